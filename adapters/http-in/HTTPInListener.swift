import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import StadtbusAdapterKit
import StadtbusConcurrency
import Synchronization

/// One Hummingbird server on one `listen` address, serving the paths of every `http-in`
/// endpoint that uses the address. Readiness condition `listener:<address>` is satisfied once
/// the socket is bound and fails with the reason if binding fails.
final class HTTPInListener: Sendable {
    let address: ListenAddress
    /// Connection limit and timeouts, fixed when the listener is made.
    let limits: HTTPInConnectionLimits
    private let context: AdapterContext
    private let handler: HTTPInRequestHandler
    private struct State {
        var routes: [String: HTTPInEndpointState] = [:]
        /// Whether the server was launched (by the first ``start()``).
        var launched = false
        /// Whether the start has ended (the first report of its outcome wins).
        var finished = false
        var group: ServiceGroup?
        var task: Task<Void, Never>?
    }
    private let state = Mutex(State())
    /// How the start ended, once it has: bound to a port or why not. Every ``start()`` waits for it.
    private let started = AsyncPromise<StartOutcome>()

    /// The port the socket is bound to, or `nil` before it is bound (or when binding failed).
    var boundPort: Int? {
        guard case .success(let port) = started.value else { return nil }
        return port
    }

    /// The readiness condition of this listener.
    var readinessName: String { "listener:\(address)" }

    init(address: ListenAddress, limits: HTTPInConnectionLimits, context: AdapterContext) {
        self.address = address
        self.limits = limits
        self.context = context
        handler = HTTPInRequestHandler(context: context)
    }

    /// Serves `path` for `endpoint`.
    func add(path: String, endpoint: HTTPInEndpointState) throws {
        try state.withLock { (state) throws(HTTPInError) in
            if let other = state.routes[path], other.name != endpoint.name {
                throw .pathTaken(address: "\(address)", path: path, endpoints: [other.name, endpoint.name])
            }
            state.routes[path] = endpoint
        }
    }

    /// Stops serving `path`; returns whether no path is left.
    func remove(path: String) -> Bool {
        state.withLock { state in
            state.routes[path] = nil
            return state.routes.isEmpty
        }
    }

    /// Binds the socket (once) and returns when it is bound (`nil`) or could not be (the reason).
    func start() async -> String? {
        let launch = state.withLock { state in
            defer { state.launched = true }
            return !state.launched
        }
        if launch { self.launch() }
        switch await started.waitIgnoringCancellation() {
        case .success: return nil
        case .failure(let reason): return reason
        }
    }

    /// Stops accepting connections; requests in progress are answered first.
    func stop() async {
        let (group, task) = state.withLock { ($0.group, $0.task) }
        await group?.triggerGracefulShutdown()
        await task?.value
        context.readiness.remove(readinessName)
    }

    private func launch() {
        context.readiness.expect(readinessName, reason: "binding \(address)")
        let responder = CallbackResponder<HTTPInRequestContext> { [weak self] request, requestContext in
            guard let self else {
                return HTTPInAnswer.rejected(.serviceUnavailable, reason: "shutting down", headers: [.retryAfter: "5"])
            }
            return await self.respond(to: request, peer: requestContext.peerAddress)
        }
        let (address, limits, logger, metrics) = (address, limits, context.logger, context.metrics)
        let gate = ConnectionGate(
            limit: limits.maxConnections, address: "\(address)", logger: logger,
            countRefusal: { metrics.countAdapterError(adapter: "http-in") })
        let application = Application(
            responder: responder,
            server: HTTPServerBuilder { responder in
                HTTPInChildChannel(responder: responder, limits: limits, gate: gate, logger: logger)
            },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "stadtbus"),
            onServerRunning: { [weak self] channel in
                self?.finishStart(.success(channel.localAddress?.port ?? address.port))
            },
            logger: context.logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: context.logger))
        let task = Task { [weak self] in
            do {
                try await group.run()
                self?.finishStart(.failure("the listener on \(address) stopped before it was bound"))
            } catch {
                self?.finishStart(.failure("cannot listen on \(address): \(error)"))
            }
        }
        state.withLock { state in
            state.group = group
            state.task = task
        }
    }

    /// How a start ended: bound to a port, or why not.
    private enum StartOutcome: Sendable {
        case success(Int)
        case failure(String)
    }

    /// Records how the start ended (the first report counts: a server that stops after it was
    /// bound reports a failure that is ignored), turns readiness, then lets every ``start()`` return.
    private func finishStart(_ outcome: StartOutcome) {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        guard first else { return }
        switch outcome {
        case .failure(let reason):
            context.readiness.fail(readinessName, reason: reason)
            context.logger.error("http-in listener failed", metadata: ["listen": "\(address)", "error": "\(reason)"])
        case .success(let port):
            // Logged before readiness turns: whoever sees `/ready` 200 finds the bound port in the log.
            context.logger.info(
                "http-in listening",
                metadata: ["listen": "\(address)", "address": "\(address.host)", "port": "\(port)"])
            context.readiness.satisfy(readinessName)
        }
        started.fulfil(outcome)
    }

    private func respond(to request: Request, peer: String?) async -> Response {
        guard let endpoint = state.withLock({ $0.routes[request.uri.path] }) else {
            context.metrics.countAdapterError(adapter: "http-in")
            context.logger.notice(
                "http-in request for an unknown path",
                metadata: ["listen": "\(address)", "path": "\(request.uri.path.prefix(200))"])
            return HTTPInAnswer.rejected(.notFound, reason: "no http-in endpoint at this path")
        }
        return await handler.respond(to: request, peer: peer, endpoint: endpoint)
    }
}
