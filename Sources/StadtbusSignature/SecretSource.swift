import Foundation

/// Where a passphrase (for an encrypted PEM key or a PKCS#12 file) comes from.
///
/// Passphrases never appear in configuration files themselves: they are read from the
/// environment or from a file that only the service user can read (e.g. a container secret).
public enum SecretSource: Sendable, Equatable, Hashable, Codable {
    /// The value of an environment variable.
    case env(String)
    /// The contents of a file (one trailing newline is removed).
    case file(String)
    /// No passphrase: the key is not encrypted.
    case none

    /// Reads the secret.
    /// - Returns: the passphrase, or `nil` for ``none``.
    /// - Throws: ``SignatureSetupError/secretUnavailable(_:)`` when the variable is unset or
    ///   the file cannot be read.
    public func read() throws(SignatureSetupError) -> String? {
        switch self {
        case .none:
            return nil
        case .env(let name):
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw .secretUnavailable("environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path),
                var text = String(data: data, encoding: .utf8)
            else {
                throw .secretUnavailable("passphrase file \(path) cannot be read")
            }
            if text.hasSuffix("\r\n") {
                text.removeLast(1)
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            return text
        }
    }
}
