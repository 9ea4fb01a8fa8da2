internal import CLibXML
internal import CXMLShim
public import Foundation
public import StadtbusXML

/// Verifies the transport signature of received messages: shape (no wrapping),
/// cryptography, certificate chain and validity, key usage, and the binding of the signer
/// certificate to the sender named in the XÖV header.
///
/// Checks run in this order; the first failure is thrown:
/// 1. shape (``SignatureStructure``): ``SignatureFailure/noSignature``,
///    ``SignatureFailure/multipleSignatures(count:)``, ``SignatureFailure/wrappedSignature(_:)``,
///    ``SignatureFailure/malformed(_:)``, ``SignatureFailure/unknownSigner(_:)`` (no certificate);
/// 2. xmlsec verification with the KeyInfo certificate's public key, restricted to `URI=""`
///    references and the accepted transforms: ``SignatureFailure/badDigest``,
///    ``SignatureFailure/badSignatureValue``;
/// 3. chain to the ``TrustStore`` and validity: ``SignatureFailure/untrustedChain(_:)``,
///    ``SignatureFailure/expired(_:)``;
///    with CRLs in the trust store also ``SignatureFailure/certificateRevoked(_:)`` and
///    ``SignatureFailure/revocationUnknown(_:)``;
/// 4. keyUsage (present, with digitalSignature or nonRepudiation): ``SignatureFailure/wrongKeyUsage``;
///    extendedKeyUsage (absent, or naming a signing purpose, see ``SigningPurposes``):
///    ``SignatureFailure/wrongExtendedKeyUsage(_:)``;
/// 5. identity: ``SignatureFailure/identityMismatch(expected:actual:)``,
///    ``SignatureFailure/unknownSigner(_:)``;
/// 6. the ``VerificationPolicy`` (only with a header): ``SignatureFailure/ownAuthor(_:)``,
///    ``SignatureFailure/staleMessage(_:)``, ``SignatureFailure/fromTheFuture(_:)``,
///    ``SignatureFailure/noCreationTime(_:)``.
///
/// Create one at start-up (the trust store is loaded once) and share it between all
/// workers: it is `Sendable`, and each call uses its own xmlsec context and key. Signer
/// certificates that passed steps 3–4 are remembered (keyed by their exact bytes, only
/// within the chain's validity period), so the partners' certificates are decoded and
/// chain-validated once rather than per message; the signature itself is always verified.
public final class SignatureVerifier: Sendable {
    /// The trust anchors.
    public let trustStore: TrustStore
    /// The identity rules (values normalised, see ``SignerIdentities/normalized()``).
    public let identities: SignerIdentities
    /// The time certificates must be valid at; `nil` means "now" on every call (tests and
    /// re-verification of archived messages may fix it).
    public let validationTime: Date?
    /// Own-author and freshness rules for ``verify(_:header:)``.
    public let policy: VerificationPolicy
    private let validated = ValidatedSigners()

    /// - Throws: ``SignatureSetupError`` when xmlsec does not initialise or a rule is invalid.
    public init(
        trustStore: TrustStore, identities: SignerIdentities = SignerIdentities(), validationTime: Date? = nil,
        policy: VerificationPolicy = VerificationPolicy()
    ) throws(SignatureSetupError) {
        try SignatureLibrary.initialize()
        try identities.validate()
        self.trustStore = trustStore
        self.identities = identities.normalized()
        self.validationTime = validationTime
        self.policy = policy
    }

    /// Verifies `document`, whose header names `header.author` as its sender, and applies
    /// the ``policy`` to the header.
    /// Extract `header` from the same `document` instance (never from a re-parse).
    /// - Throws: ``SignatureFailure``.
    public func verify(_ document: XMLDocument, header: MessageHeader) throws(SignatureFailure) -> VerifiedSignature {
        guard let kennung = header.author?.kennung, !kennung.isEmpty else {
            throw .malformed("the message header names no author; the signer cannot be bound to a sender")
        }
        let verified = try verify(document, authorKennung: kennung)
        try policy.check(header, author: kennung, now: validationTime ?? Date())
        return verified
    }

    /// Verifies `document` for the sender `authorKennung`.
    /// - Throws: ``SignatureFailure``.
    public func verify(_ document: XMLDocument, authorKennung: String) throws(SignatureFailure) -> VerifiedSignature {
        let (structure, signer) = try verifySignature(document)
        let binding = try identities.bind(signer, to: authorKennung)
        return VerifiedSignature(
            signer: signer, kennung: authorKennung, binding: binding, algorithm: structure.signatureAlgorithm)
    }

    /// Steps 1–4 (everything but the identity binding); returns the signer certificate.
    func verifySignature(_ document: XMLDocument) throws(SignatureFailure) -> (SignatureStructure, CertificateSummary) {
        SignatureLibrary.resetErrors()
        let structure = try SignatureStructure(document: document.libxmlDocument)
        let now = time_t((validationTime ?? Date()).timeIntervalSince1970)
        if let known = validated.lookup(structure.certificateTexts, at: now) {
            try verifyCryptography(structure, key: known.leaf)
            return (structure, known.summary)
        }
        let (leaf, intermediates) = try SignatureStructure.signerChain(from: structure.certificateTexts)
        try verifyCryptography(structure, key: leaf)
        let period = try trustStore.validate(leaf, intermediates: intermediates, at: validationTime)
        guard leaf.allowsSigning else { throw .wrongKeyUsage }
        try leaf.checkSigningPurpose()
        let signer = ValidatedSigner(leaf: leaf, summary: leaf.summary, period: period)
        validated.store(signer, for: structure.certificateTexts)
        return (structure, signer.summary)
    }

    private func verifyCryptography(_ structure: SignatureStructure, key certificate: Certificate)
        throws(SignatureFailure)
    {
        guard let publicKey = X509_get_pubkey(certificate.pointer) else {
            throw .malformed("the signer certificate's public key cannot be read")
        }
        guard let key = stadtbus_xmlsec_key_adopt(publicKey) else {
            throw .malformed(SignatureLibrary.takeXMLSecError() ?? "xmlsec refused the signer's key")
        }
        guard let context = xmlSecDSigCtxCreate(nil) else {
            xmlSecKeyDestroy(key)
            throw .malformed("out of memory")
        }
        defer { xmlSecDSigCtxDestroy(context) }
        // The context owns the key from here. With a key set, xmlsec does not read KeyInfo.
        context.pointee.signKey = key
        context.pointee.flags |= UInt32(XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS)
        context.pointee.enabledReferenceUris = xmlSecTransformUriType(xmlSecTransformUriTypeEmpty)
        for transform in AcceptedAlgorithms.referenceTransformIds {
            guard xmlSecDSigCtxEnableReferenceTransform(context, transform) == 0 else {
                throw .malformed("cannot restrict reference transforms")
            }
        }
        for transform in AcceptedAlgorithms.signatureTransformIds {
            guard xmlSecDSigCtxEnableSignatureTransform(context, transform) == 0 else {
                throw .malformed("cannot restrict signature transforms")
            }
        }
        guard xmlSecDSigCtxVerify(context, structure.signature) == 0 else {
            let detail =
                SignatureLibrary.takeXMLSecError() ?? SignatureLibrary.takeOpenSSLErrors()
                ?? "xmlsec verification failed"
            throw .malformed(detail)
        }
        switch context.pointee.status {
        case xmlSecDSigStatusSucceeded:
            return
        case xmlSecDSigStatusInvalid:
            // xmlsec checks the references first and stops at the first bad digest; the
            // signature value is only checked when all digests match.
            if Self.anyReferenceFailed(context) { throw .badDigest }
            throw .badSignatureValue
        default:
            throw .malformed("xmlsec returned no verification status")
        }
    }

    private static func anyReferenceFailed(_ context: xmlSecDSigCtxPtr) -> Bool {
        withUnsafeMutablePointer(to: &context.pointee.signedInfoReferences) { references in
            (0..<xmlSecPtrListGetSize(references)).contains { index in
                guard let item = xmlSecPtrListGetItem(references, index) else { return false }
                return item.assumingMemoryBound(to: xmlSecDSigReferenceCtx.self).pointee.status
                    != xmlSecDSigStatusSucceeded
            }
        }
    }
}
