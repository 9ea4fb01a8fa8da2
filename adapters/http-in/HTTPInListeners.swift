import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import Synchronization

/// The `http-in` listeners of one runtime, one per `listen` address, and the current settings
/// and credentials of every `http-in` endpoint.
///
/// Sources ``open(_:context:)`` their endpoint's path when they start and ``close(_:)`` it
/// when they stop; the listener of an address starts with its first path and stops with its
/// last. Tests use the same calls to receive without consuming the intake queue.
public final class HTTPInListeners: Sendable {
    /// Endpoint states by endpoint name, listeners by address.
    private struct State {
        var endpoints: [String: HTTPInEndpointState] = [:]
        var listeners: [ListenAddress: HTTPInListener] = [:]
    }
    private let state = Mutex(State())
    private let environment: @Sendable () -> [String: String]

    /// - Parameter environment: where `token-env` variables are looked up (the process environment).
    public init(environment: @escaping @Sendable () -> [String: String] = { ProcessInfo.processInfo.environment }) {
        self.environment = environment
    }

    /// Reads `endpoint`'s settings and (re-)reads its tokens; a running listener uses them for
    /// the next request. A changed `listen` or `path` needs a restart (logged).
    @discardableResult
    public func configure(_ endpoint: Endpoint, logger: Logger) throws -> HTTPInSettings {
        let settings = try HTTPInSettings(endpoint: endpoint)
        var tokens: BearerTokens?
        if case .bearer(let source) = settings.auth {
            tokens = try BearerTokens.load(source, endpoint: endpoint.name, environment: environment())
        }
        let existing: HTTPInEndpointState? = state.withLock { state in
            if let existing = state.endpoints[endpoint.name] { return existing }
            state.endpoints[endpoint.name] = HTTPInEndpointState(
                name: endpoint.name, settings: settings, tokens: tokens)
            return nil
        }
        if let existing {
            let previous = existing.snapshot.settings
            if previous.listen != settings.listen || previous.path != settings.path {
                logger.warning(
                    "http-in endpoint moved; the new listen/path applies after a restart",
                    metadata: [
                        "endpoint": "\(endpoint.name)", "serving": "\(previous.listen)\(previous.path)",
                        "configured": "\(settings.listen)\(settings.path)",
                    ])
                var kept = settings
                kept.listen = previous.listen
                kept.path = previous.path
                existing.update(settings: kept, tokens: tokens)
            } else {
                existing.update(settings: settings, tokens: tokens)
            }
        }
        return settings
    }

    /// Starts (or joins) the listener for `endpoint` and serves its path.
    /// - Returns: `nil` once the listener is bound, else why it could not bind (readiness
    ///   condition `listener:<address>` then fails with that reason).
    /// - Throws: ``HTTPInError`` for unusable settings, an unreadable token or a taken path.
    @discardableResult
    public func open(_ endpoint: Endpoint, context: AdapterContext) async throws -> String? {
        let needsConfiguration = state.withLock { $0.endpoints[endpoint.name] == nil }
        if needsConfiguration { try configure(endpoint, logger: context.logger) }
        guard let endpointState = state.withLock({ $0.endpoints[endpoint.name] }) else {
            throw HTTPInError.invalidSetting(
                endpoint: endpoint.name, setting: "path", problem: "could not be registered")
        }
        let settings = endpointState.snapshot.settings
        if case .none = settings.auth {
            context.logger.warning(
                "http-in endpoint accepts requests WITHOUT authentication (auth: none): anyone who can reach it can submit",
                metadata: ["endpoint": "\(endpoint.name)", "listen": "\(settings.listen)", "path": "\(settings.path)"])
        }
        let listener = state.withLock { state in
            if let existing = state.listeners[settings.listen] { return existing }
            // Every endpoint configured on this address counts: the strictest limits apply.
            let limits = state.endpoints.values.map(\.snapshot.settings).filter { $0.listen == settings.listen }
                .map(\.connections).reduce(settings.connections) { $0.stricter($1) }
            let created = HTTPInListener(address: settings.listen, limits: limits, context: context)
            state.listeners[settings.listen] = created
            return created
        }
        try listener.add(path: settings.path, endpoint: endpointState)
        let failure = await listener.start()
        if failure == nil {
            let bound =
                listener.boundPort.map { ListenAddress(host: settings.listen.host, port: $0) } ?? settings.listen
            context.logger.info(
                "http-in endpoint open",
                metadata: ["endpoint": "\(endpoint.name)", "url": "http://\(bound)\(settings.path)"])
        }
        return failure
    }

    /// The address `endpoint`'s listener is bound to — with the kernel's port when the
    /// configured port is 0 — or `nil` while it is not bound.
    public func boundAddress(of endpoint: Endpoint) -> ListenAddress? {
        state.withLock { state in
            guard let listen = state.endpoints[endpoint.name]?.snapshot.settings.listen,
                let listener = state.listeners[listen],
                let port = listener.boundPort
            else { return nil }
            return ListenAddress(host: listen.host, port: port)
        }
    }

    /// Stops serving `endpoint`'s path; the listener stops when it was the last one.
    public func close(_ endpoint: Endpoint) async {
        guard let endpointState = state.withLock({ $0.endpoints[endpoint.name] }) else { return }
        let settings = endpointState.snapshot.settings
        let emptied: HTTPInListener? = state.withLock { state in
            guard let listener = state.listeners[settings.listen], listener.remove(path: settings.path) else {
                return nil
            }
            state.listeners[settings.listen] = nil
            return listener
        }
        await emptied?.stop()
    }
}
