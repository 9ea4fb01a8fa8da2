internal import CLibXML
import Foundation

/// The transport signature of a document, located and checked for shape before any
/// cryptography runs (the defence against signature wrapping).
///
/// Accepted shape, nothing else:
/// ```
/// <root>
///   …                                  (content; nested ds:Signature of the payload allowed)
///   <ds:Signature>                     exactly one as a direct child of the document element
///     <ds:SignedInfo>
///       <ds:CanonicalizationMethod Algorithm="exc-c14n"/>
///       <ds:SignatureMethod Algorithm="rsa-sha256|…|ecdsa-sha512"/>
///       <ds:Reference URI="">          exactly one, whole document, no Type
///         <ds:Transforms> enveloped-signature (required), exc-c14n </ds:Transforms>
///         <ds:DigestMethod Algorithm="sha256|sha384|sha512"/> <ds:DigestValue/>
///     <ds:SignatureValue/>
///     <ds:KeyInfo><ds:X509Data> X509Certificate+ (X509IssuerSerial, X509SubjectName, X509SKI ignored)
/// ```
/// No ds:Object (or Manifest), no KeyName, RetrievalMethod or KeyValue.
struct SignatureStructure {
    /// The `ds:Signature` element.
    let signature: xmlNodePtr
    /// The base64 texts of KeyInfo's X509Certificate elements (1 to ``maxX509DataItems``),
    /// decoded by ``signerChain(from:)`` unless the verifier has validated them before.
    let certificateTexts: [String]
    /// The SignatureMethod algorithm URI.
    let signatureAlgorithm: String

    init(document: xmlDocPtr) throws(SignatureFailure) {
        guard let root = xmlDocGetRootElement(document) else { throw .malformed("the document has no root element") }
        if XMLNodes.isElement(root, "Signature") {
            throw .wrappedSignature("the document element is itself a ds:Signature (enveloping signatures are refused)")
        }
        var total = 0
        XMLNodes.forEachElement(under: root) { element in
            if XMLNodes.isElement(element, "Signature") { total += 1 }
        }
        let onRoot = XMLNodes.elementChildren(root).filter { XMLNodes.isElement($0, "Signature") }
        guard onRoot.count <= 1 else { throw .multipleSignatures(count: onRoot.count) }
        guard let signature = onRoot.first else {
            if total > 0 {
                throw .wrappedSignature(
                    "no ds:Signature is a direct child of the document element (found \(total) deeper inside)")
            }
            throw .noSignature
        }
        self.signature = signature
        let children = XMLNodes.elementChildren(signature)
        guard children.count >= 2, XMLNodes.isElement(children[0], "SignedInfo"),
            XMLNodes.isElement(children[1], "SignatureValue")
        else {
            throw .malformed("ds:Signature must start with SignedInfo and SignatureValue")
        }
        for extra in children.dropFirst(2) where !XMLNodes.isElement(extra, "KeyInfo") {
            if XMLNodes.isElement(extra, "Object") {
                throw .wrappedSignature("ds:Object inside the signature is refused")
            }
            throw .malformed("unexpected element \(XMLNodes.qualifiedName(extra)) in ds:Signature")
        }
        guard children.count == 3 else {
            if children.count == 2 { throw .unknownSigner("the signature carries no KeyInfo with a certificate") }
            throw .malformed("ds:Signature has more than one KeyInfo")
        }
        try Self.checkTextOnly(children[1])
        signatureAlgorithm = try Self.checkSignedInfo(children[0])
        certificateTexts = try Self.certificateTexts(in: children[2])
    }

    /// Checks SignedInfo; returns the SignatureMethod algorithm.
    private static func checkSignedInfo(_ signedInfo: xmlNodePtr) throws(SignatureFailure) -> String {
        let parts = XMLNodes.elementChildren(signedInfo)
        guard parts.count >= 3, XMLNodes.isElement(parts[0], "CanonicalizationMethod"),
            XMLNodes.isElement(parts[1], "SignatureMethod")
        else {
            throw .malformed("SignedInfo must hold CanonicalizationMethod, SignatureMethod and a Reference")
        }
        let references = parts.dropFirst(2)
        for part in references where !XMLNodes.isElement(part, "Reference") {
            throw .malformed("unexpected element \(XMLNodes.qualifiedName(part)) in SignedInfo")
        }
        guard references.count == 1, let reference = references.first else {
            throw .wrappedSignature("SignedInfo has \(references.count) references; exactly one (URI=\"\") is allowed")
        }
        let c14n = XMLNodes.attribute(parts[0], "Algorithm") ?? ""
        guard c14n == AcceptedAlgorithms.exclusiveC14N else {
            throw .malformed("SignedInfo canonicalisation '\(c14n)' is refused; exclusive C14N is required")
        }
        try checkC14NParameters(parts[0])
        let method = XMLNodes.attribute(parts[1], "Algorithm") ?? ""
        guard AcceptedAlgorithms.signatures.contains(method) else {
            throw .malformed("signature algorithm '\(method)' is refused")
        }
        guard XMLNodes.elementChildren(parts[1]).isEmpty else {
            throw .malformed("SignatureMethod parameters (e.g. HMACOutputLength) are refused")
        }
        try checkReference(reference)
        return method
    }

    private static func checkReference(_ reference: xmlNodePtr) throws(SignatureFailure) {
        guard let uri = XMLNodes.attribute(reference, "URI") else {
            throw .wrappedSignature("the Reference has no URI; URI=\"\" (the whole document) is required")
        }
        guard uri.isEmpty else {
            throw .wrappedSignature("the Reference points to '\(uri)'; only URI=\"\" (the whole document) is allowed")
        }
        if let type = XMLNodes.attribute(reference, "Type") {
            throw .wrappedSignature("Reference Type '\(type)' is refused")
        }
        let parts = XMLNodes.elementChildren(reference)
        guard parts.count == 3, XMLNodes.isElement(parts[0], "Transforms"),
            XMLNodes.isElement(parts[1], "DigestMethod"),
            XMLNodes.isElement(parts[2], "DigestValue")
        else {
            throw .wrappedSignature(
                "the Reference must hold Transforms (with enveloped-signature), DigestMethod and DigestValue")
        }
        var enveloped = false
        for transform in XMLNodes.elementChildren(parts[0]) {
            guard XMLNodes.isElement(transform, "Transform") else {
                throw .malformed("unexpected element \(XMLNodes.qualifiedName(transform)) in Transforms")
            }
            let algorithm = XMLNodes.attribute(transform, "Algorithm") ?? ""
            guard AcceptedAlgorithms.referenceTransforms.contains(algorithm) else {
                throw .wrappedSignature(
                    "transform '\(algorithm)' is refused (only enveloped-signature and exclusive C14N)")
            }
            if algorithm == AcceptedAlgorithms.enveloped {
                guard XMLNodes.elementChildren(transform).isEmpty else {
                    throw .malformed("the enveloped-signature transform takes no parameters")
                }
                enveloped = true
            } else {
                try checkC14NParameters(transform)
            }
        }
        guard enveloped else { throw .wrappedSignature("the Reference lacks the enveloped-signature transform") }
        let digest = XMLNodes.attribute(parts[1], "Algorithm") ?? ""
        guard AcceptedAlgorithms.digests.contains(digest) else {
            throw .malformed("digest algorithm '\(digest)' is refused")
        }
        guard XMLNodes.elementChildren(parts[1]).isEmpty else { throw .malformed("DigestMethod takes no parameters") }
        try checkTextOnly(parts[2])
    }

    /// Exclusive C14N may carry one ec:InclusiveNamespaces element, nothing else.
    private static func checkC14NParameters(_ node: xmlNodePtr) throws(SignatureFailure) {
        let parameters = XMLNodes.elementChildren(node)
        guard parameters.count <= 1 else { throw .malformed("too many canonicalisation parameters") }
        if let parameter = parameters.first {
            guard XMLNodes.isElement(parameter, "InclusiveNamespaces", namespace: XMLNodes.excC14NNamespace),
                XMLNodes.elementChildren(parameter).isEmpty
            else {
                throw .malformed("unexpected canonicalisation parameter \(XMLNodes.qualifiedName(parameter))")
            }
        }
    }

    private static func checkTextOnly(_ node: xmlNodePtr) throws(SignatureFailure) {
        guard XMLNodes.elementChildren(node).isEmpty else {
            throw .malformed("\(XMLNodes.qualifiedName(node)) must hold text only")
        }
    }

    /// Bounds the work an attacker can cause with KeyInfo (each certificate is decoded and
    /// compared with every other one).
    static let maxX509DataItems = 8

    /// The X509Certificate contents of KeyInfo (which may hold exactly one X509Data).
    private static func certificateTexts(in keyInfo: xmlNodePtr) throws(SignatureFailure) -> [String] {
        let parts = XMLNodes.elementChildren(keyInfo)
        for part in parts where !XMLNodes.isElement(part, "X509Data") {
            throw .malformed("KeyInfo may only carry X509Data; \(XMLNodes.qualifiedName(part)) is refused")
        }
        guard parts.count == 1, let x509Data = parts.first else {
            throw .unknownSigner("KeyInfo must carry exactly one X509Data with the signer certificate")
        }
        let items = XMLNodes.elementChildren(x509Data)
        guard items.count <= maxX509DataItems else {
            throw .malformed("X509Data carries \(items.count) items; at most \(maxX509DataItems) are accepted")
        }
        var texts: [String] = []
        for item in items {
            try checkTextOnly(item)
            if XMLNodes.isElement(item, "X509Certificate") {
                texts.append(XMLNodes.text(item))
            } else if !(XMLNodes.isElement(item, "X509IssuerSerial") || XMLNodes.isElement(item, "X509SubjectName")
                || XMLNodes.isElement(item, "X509SKI"))
            {
                throw .malformed("X509Data may not carry \(XMLNodes.qualifiedName(item))")
            }
        }
        guard !texts.isEmpty else { throw .unknownSigner("KeyInfo carries no X509Certificate") }
        return texts
    }

    /// Decodes the KeyInfo certificates and picks the signer: the one certificate that
    /// issued none of the others. Returns it and the rest (untrusted intermediates).
    static func signerChain(from texts: [String]) throws(SignatureFailure) -> (Certificate, [Certificate]) {
        var certificates: [Certificate] = []
        for text in texts {
            guard let der = Data(base64Encoded: text, options: .ignoreUnknownCharacters),
                let certificate = Certificate(der: Array(der))
            else {
                throw .malformed("an X509Certificate in KeyInfo is not a DER certificate")
            }
            certificates.append(certificate)
        }
        if certificates.count == 1 { return (certificates[0], []) }
        let leaves = certificates.indices.filter { index in
            !certificates.indices.contains { other in
                other != index && certificates[index].issued(certificates[other])
            }
        }
        guard leaves.count == 1, let leaf = leaves.first else {
            throw .unknownSigner(
                "KeyInfo carries \(certificates.count) certificates and no single signer certificate among them")
        }
        var rest = certificates
        rest.remove(at: leaf)
        return (certificates[leaf], rest)
    }
}
