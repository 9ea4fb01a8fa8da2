import Foundation

/// The current settings and credentials of one `http-in` endpoint. The listener reads it for
/// every request; `prepare` replaces it after a reload (so new tokens apply at once).
final class HTTPInEndpointState: @unchecked Sendable {
    let name: String
    private let lock = NSLock()
    private var current: (settings: HTTPInSettings, tokens: BearerTokens?)

    init(name: String, settings: HTTPInSettings, tokens: BearerTokens?) {
        self.name = name
        current = (settings, tokens)
    }

    var snapshot: (settings: HTTPInSettings, tokens: BearerTokens?) { lock.withLock { current } }

    func update(settings: HTTPInSettings, tokens: BearerTokens?) {
        lock.withLock { current = (settings, tokens) }
    }
}
