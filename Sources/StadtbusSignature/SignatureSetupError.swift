/// Why a signing key, trust store or the signature library could not be set up, or why
/// signing a document failed. (Rejections of received messages are ``SignatureFailure``s.)
public enum SignatureSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    /// xmlsec1 or its OpenSSL engine did not initialise (the step number says where).
    case libraryInitializationFailed(step: Int)
    /// A passphrase source could not be read.
    case secretUnavailable(String)
    /// A key or certificate file could not be read or decoded (wrong passphrase, wrong format).
    case keyLoadFailed(path: String, message: String)
    /// The key is not usable for Stadtbus signatures (only RSA ≥ 2048 bits and ECDSA P-256).
    case unsupportedKey(String)
    /// The certificate does not belong to the private key.
    case certificateKeyMismatch(path: String)
    /// The trust store directory is missing, unreadable or holds no certificate.
    case trustStoreUnusable(path: String, message: String)
    /// A certificate revocation list of the trust store is unusable: unreadable, expired
    /// (nextUpdate passed), or not signed by the trust anchor that issued it.
    case crlUnusable(path: String, message: String)
    /// The identity configuration is invalid (e.g. a malformed fingerprint).
    case invalidIdentityRule(String)
    /// The document could not be signed (no root element, or an xmlsec failure).
    case signingFailed(String)

    public var description: String {
        switch self {
        case .libraryInitializationFailed(let step):
            return "xmlsec1/OpenSSL could not be initialised (step \(step))"
        case .secretUnavailable(let message):
            return "passphrase unavailable: \(message)"
        case .keyLoadFailed(let path, let message):
            return "key or certificate \(path) could not be loaded: \(message)"
        case .unsupportedKey(let message):
            return "unsupported signing key: \(message)"
        case .certificateKeyMismatch(let path):
            return "certificate \(path) does not match the private key"
        case .trustStoreUnusable(let path, let message):
            return "trust store \(path) unusable: \(message)"
        case .crlUnusable(let path, let message):
            return "certificate revocation list \(path) unusable: \(message)"
        case .invalidIdentityRule(let message):
            return "invalid signer identity rule: \(message)"
        case .signingFailed(let message):
            return "signing failed: \(message)"
        }
    }
}
