import StadtbusXML

/// Why signing or verification failed: a short reason code plus text for a human.
public struct SignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `no-signature`, `digest-mismatch`, `untrusted-certificate`, `key-unavailable`, …
    public var code: String
    public var message: String
    /// Whether retrying may help (an HSM that is briefly unreachable); usually not.
    public var isTransient: Bool

    public init(code: String, message: String, isTransient: Bool = false) {
        self.code = code
        self.message = message
        self.isTransient = isTransient
    }

    public var description: String { "\(code): \(message)" }
}

/// Signs a document in place (enveloped XMLDSig). One signer per configured key.
public protocol MessageSigner: Sendable {
    func sign(document: XMLDocument) throws
}

/// Verifies a document's signature against the trust store.
public protocol SignatureVerifier: Sendable {
    func verify(document: XMLDocument, header: MessageHeader) throws
}
