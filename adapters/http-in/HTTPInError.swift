/// Why an `http-in` endpoint cannot be served as configured. Every case names the endpoint
/// and says what to change.
public enum HTTPInError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A setting is missing or has a value the adapter cannot use.
    case invalidSetting(endpoint: String, setting: String, problem: String)
    /// A token file cannot be read or holds no usable token.
    case unreadableTokenFile(endpoint: String, path: String, reason: String)
    /// The environment variable named by `token-env` is not set or empty.
    case missingTokenEnvironment(endpoint: String, variable: String)
    /// A token is too short to be a secret.
    case weakToken(endpoint: String, source: String, minimum: Int)
    /// Two endpoints claim the same path on the same listen address.
    case pathTaken(address: String, path: String, endpoints: [String])

    public var description: String {
        switch self {
        case .invalidSetting(let endpoint, let setting, let problem):
            return "http-in endpoint '\(endpoint)': '\(setting)' \(problem)"
        case .unreadableTokenFile(let endpoint, let path, let reason):
            return "http-in endpoint '\(endpoint)': cannot read token file \(path): \(reason)"
        case .missingTokenEnvironment(let endpoint, let variable):
            return "http-in endpoint '\(endpoint)': environment variable \(variable) (token-env) is not set or empty"
        case .weakToken(let endpoint, let source, let minimum):
            return "http-in endpoint '\(endpoint)': a token in \(source) is shorter than \(minimum) characters — "
                + "generate one with `openssl rand -hex 32`"
        case .pathTaken(let address, let path, let endpoints):
            let names = endpoints.map { "'\($0)'" }.joined(separator: " and ")
            return "http-in endpoints \(names) both use path '\(path)' on "
                + "\(address) — give each its own 'path' or 'listen'"
        }
    }
}
