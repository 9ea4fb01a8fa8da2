/// What a successful verification established about a message's signer.
public struct VerifiedSignature: Equatable, Sendable {
    /// The signer certificate.
    public var signer: CertificateSummary
    /// The author kennung the signature is bound to.
    public var kennung: String
    /// How the certificate was bound to the kennung (e.g. `ags:01061046`, `fingerprint-sha256=…`).
    public var binding: String
    /// The SignatureMethod algorithm URI.
    public var algorithm: String

    public init(signer: CertificateSummary, kennung: String, binding: String, algorithm: String) {
        self.signer = signer
        self.kennung = kennung
        self.binding = binding
        self.algorithm = algorithm
    }
}
