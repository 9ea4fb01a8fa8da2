import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Decides whether a request may submit, and names the client for `x-stadtbus-client`.
enum ClientCheck {
    /// The outcome: the client's name, or a rejection with status and reason.
    enum Verdict: Equatable {
        case allowed(client: String)
        case unauthorized(String)
        case forbidden(String)
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
    /// certificate, and that the subject is allowed.
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
        guard policy.allowedSubjects.contains(where: { fnmatch($0, subject, 0) == 0 }) else {
            return .forbidden("client subject '\(String(subject.prefix(200)))' is not allowed")
        }
        return .allowed(client: subject)
    }
}
