/// Where an `http-in` listener binds: `HOST:PORT` (`[IPv6]:PORT` for IPv6 literals). Port 0
/// lets the kernel choose a free port; the listener logs the bound one ("http-in listening").
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8081`, `0.0.0.0:8081`, `localhost:8081` or `[::1]:8081`.
    public init?(_ text: String) {
        guard Self.problem(text) == nil, let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...])
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host, port: port)
    }

    /// Why `text` is not a listen address, or `nil` when it is one (for `stadtbus check`).
    @Sendable public static func problem(_ text: String) -> String? {
        guard let colon = text.lastIndex(of: ":") else { return "found '\(text)' without ':PORT'" }
        let host = text[..<colon]
        guard let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return "found '\(text)', whose port is not a number in 0...65535"
        }
        if host.isEmpty { return "found '\(text)' without a host (use 0.0.0.0 for every interface)" }
        if host.contains(":"), !(host.hasPrefix("[") && host.hasSuffix("]")) {
            return "found '\(text)'; write IPv6 addresses in brackets, e.g. [::1]:8081"
        }
        return nil
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
