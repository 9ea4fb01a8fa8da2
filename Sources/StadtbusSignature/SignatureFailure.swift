/// Why a received message's signature was rejected.
///
/// ``reason`` is a stable short code for dead-letter headers and metrics; ``description``
/// explains the rejection to an operator. The associated texts add detail (the OpenSSL or
/// xmlsec message, the offending element) and are not part of the stable code.
public enum SignatureFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The document carries no `ds:Signature` at all.
    case noSignature
    /// More than one `ds:Signature` is a direct child of the document element.
    case multipleSignatures(count: Int)
    /// The signed content was changed after signing (the reference digest does not match).
    case badDigest
    /// The `SignatureValue` does not verify with the signer certificate's key (SignedInfo or
    /// the value itself was changed, or the certificate is not the signer's).
    case badSignatureValue
    /// No signer certificate in `KeyInfo`, or no identity is configured for the certificate.
    case unknownSigner(String)
    /// The signer certificate (or a certificate of its chain) is expired or not yet valid.
    case expired(String)
    /// The signer certificate does not chain to a trust anchor of the trust store.
    case untrustedChain(String)
    /// The signer certificate is not issued for signing (keyUsage lacks digitalSignature and
    /// nonRepudiation, or has no keyUsage extension).
    case wrongKeyUsage
    /// The signer certificate's extendedKeyUsage names purposes, but none for signing documents
    /// (e.g. TLS-only `serverAuth`/`clientAuth`). See ``SignatureVerifier`` for the accepted set.
    case wrongExtendedKeyUsage(String)
    /// The signer certificate (or a CA certificate of its chain) is revoked by a CRL of the trust store.
    case certificateRevoked(String)
    /// A CRL of the trust store that applies to the chain cannot be used now (expired, not yet
    /// valid, or its signature or issuer cannot be checked): revocation status unknown.
    case revocationUnknown(String)
    /// The header's author is this authority: one of our own messages reflected back (refused
    /// unless the `verify` step allows it).
    case ownAuthor(String)
    /// The header's creation time is older than the freshness window allows.
    case staleMessage(String)
    /// The header's creation time lies further in the future than the clock-skew allowance.
    case fromTheFuture(String)
    /// The header carries no creation time (or none that is an `xs:dateTime`), but a freshness
    /// window applies.
    case noCreationTime(String)
    /// The certificate's identity is not the sender the message header claims.
    /// `expected` is the header's author kennung, `actual` the certificate's identity.
    case identityMismatch(expected: String, actual: String)
    /// The signature does not cover the document element that is processed: it sits in the
    /// wrong place, references something else than the whole document (`URI=""`), has extra
    /// references or objects, or uses transforms that select or rewrite content.
    case wrappedSignature(String)
    /// The signature element or the document is broken or uses algorithms Stadtbus refuses.
    case malformed(String)

    /// A stable short code, e.g. `bad-digest`, for dead-letter headers and metrics labels.
    public var reason: String {
        switch self {
        case .noSignature: return "no-signature"
        case .multipleSignatures: return "multiple-signatures"
        case .badDigest: return "bad-digest"
        case .badSignatureValue: return "bad-signature-value"
        case .unknownSigner: return "unknown-signer"
        case .expired: return "expired"
        case .untrustedChain: return "untrusted-chain"
        case .wrongKeyUsage: return "wrong-key-usage"
        case .wrongExtendedKeyUsage: return "wrong-extended-key-usage"
        case .certificateRevoked: return "certificate-revoked"
        case .revocationUnknown: return "revocation-unknown"
        case .ownAuthor: return "own-author"
        case .staleMessage: return "stale-message"
        case .fromTheFuture: return "from-the-future"
        case .noCreationTime: return "no-creation-time"
        case .identityMismatch: return "identity-mismatch"
        case .wrappedSignature: return "wrapped-signature"
        case .malformed: return "malformed-signature"
        }
    }

    public var description: String {
        switch self {
        case .noSignature:
            return "the message is not signed (no ds:Signature)"
        case .multipleSignatures(let count):
            return "the message carries \(count) signatures on its document element; exactly one is expected"
        case .badDigest:
            return "the signed content was modified after signing (digest mismatch)"
        case .badSignatureValue:
            return "the signature value does not verify with the signer certificate's key"
        case .unknownSigner(let detail):
            return "unknown signer: \(detail)"
        case .expired(let detail):
            return "the signer certificate is not valid at this time: \(detail)"
        case .untrustedChain(let detail):
            return "the signer certificate is not issued by a trusted CA: \(detail)"
        case .wrongKeyUsage:
            return "the signer certificate is not issued for signing (keyUsage lacks digitalSignature/nonRepudiation)"
        case .wrongExtendedKeyUsage(let detail):
            return "the signer certificate's extended key usage does not allow signing documents: \(detail)"
        case .certificateRevoked(let detail):
            return "the signer certificate is revoked: \(detail)"
        case .revocationUnknown(let detail):
            return "the revocation status cannot be checked (update the CRL in the trust store): \(detail)"
        case .ownAuthor(let kennung):
            return
                "the message's author '\(kennung)' is this authority: an own message reflected back is refused (verify: { allow-own-author: true } accepts it)"
        case .staleMessage(let detail):
            return "the message is too old: \(detail)"
        case .fromTheFuture(let detail):
            return "the message's creation time lies in the future: \(detail)"
        case .noCreationTime(let detail):
            return
                "the message header has no usable creation time (erstellungszeitpunkt), so its freshness cannot be checked: \(detail)"
        case .identityMismatch(let expected, let actual):
            return "the message claims to come from '\(expected)' but is signed by '\(actual)'"
        case .wrappedSignature(let detail):
            return "the signature does not cover the processed document (signature wrapping): \(detail)"
        case .malformed(let detail):
            return "malformed signature: \(detail)"
        }
    }
}
