import Foundation

/// Decides whether a request may submit, and names the client for `x-stadtbus-client`.
enum ClientCheck {
    /// The outcome: the client's name, or a rejection with status and reason.
    enum Verdict: Equatable {
        case allowed(client: String)
        case unauthorized(String)
        case forbidden(String)
        /// The request is malformed in a way that matters for authentication (400), e.g. an
        /// authentication header sent twice: which one counts would depend on who reads it.
        case malformed(String)
    }

    /// Refuses a request that carries one of the headers authentication reads more than once.
    /// - Parameter counts: header name (as configured) → how often the request carries it.
    static func unique(_ counts: [(name: String, count: Int)]) -> Verdict? {
        guard let repeated = counts.first(where: { $0.count > 1 }) else { return nil }
        return .malformed("the \(repeated.name) header is sent \(repeated.count) times; send it once")
    }

    /// Checks `Authorization: Bearer TOKEN` against `tokens`.
    static func bearer(authorization: String?, tokens: BearerTokens) -> Verdict {
        guard let authorization, !authorization.isEmpty else { return .unauthorized("missing bearer token") }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .unauthorized("Authorization is not a bearer token")
        }
        let presented = Array(parts[1].trimmingCharacters(in: .whitespaces).utf8)
        guard let name = tokens.match(presented) else { return .unauthorized("invalid bearer token") }
        return .allowed(client: name)
    }

    /// Checks that the request came through a trusted proxy that verified the client
    /// certificate, and that the subject matches an allowed pattern (``SubjectPattern``, per RDN).
    static func mtlsProxy(
        peer: IPAddress?, verify: String?, subject: String?, policy: HTTPInSettings.MTLSProxyPolicy
    ) -> Verdict {
        guard let peer, policy.trustedProxies.contains(peer) else {
            return .forbidden("request did not come from a trusted proxy (peer \(peer?.description ?? "unknown"))")
        }
        guard verify?.trimmingCharacters(in: .whitespaces) == "SUCCESS" else {
            return .forbidden(
                "client certificate not verified (\(policy.verifyHeader): "
                    + "\(verify.map { "'\(String($0.prefix(60)))'" } ?? "missing"))"
            )
        }
        guard let subject = subject?.trimmingCharacters(in: .whitespaces), !subject.isEmpty else {
            return .forbidden("no client subject (\(policy.subjectHeader) missing)")
        }
        guard policy.allowedSubjects.contains(where: { SubjectPattern($0).matches(subject) }) else {
            return .forbidden("client subject '\(String(subject.prefix(200)))' is not allowed")
        }
        return .allowed(client: subject)
    }
}
