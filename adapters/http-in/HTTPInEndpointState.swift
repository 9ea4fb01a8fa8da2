import Foundation
import Synchronization

/// The current settings and credentials of one `http-in` endpoint. The listener reads it for
/// every request; `prepare` replaces it after a reload (so new tokens apply at once).
final class HTTPInEndpointState: Sendable {
    let name: String
    private let current: Mutex<(settings: HTTPInSettings, tokens: BearerTokens?)>

    init(name: String, settings: HTTPInSettings, tokens: BearerTokens?) {
        self.name = name
        current = Mutex((settings, tokens))
    }

    var snapshot: (settings: HTTPInSettings, tokens: BearerTokens?) { current.withLock { $0 } }

    func update(settings: HTTPInSettings, tokens: BearerTokens?) {
        current.withLock { $0 = (settings, tokens) }
    }
}
