import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import StadtbusAdapterKit

/// One Hummingbird server on one `listen` address, serving the paths of every `http-in`
/// endpoint that uses the address. Readiness condition `listener:<address>` is satisfied once
/// the socket is bound and fails with the reason if binding fails.
final class HTTPInListener: @unchecked Sendable {
    let address: ListenAddress
    /// Connection limit and timeouts, fixed when the listener is made.
    let limits: HTTPInConnectionLimits
    private let context: AdapterContext
    private let handler: HTTPInRequestHandler
    private let lock = NSLock()
    private var routes: [String: HTTPInEndpointState] = [:]
    private var state: State = .idle
    private var group: ServiceGroup?
    private var task: Task<Void, Never>?

    private enum State {
        case idle
        case starting([CheckedContinuation<String?, Never>])
        /// Bound to `port` (the kernel's choice when `address.port` is 0).
        case bound(port: Int)
        case failed(String)
    }

    /// The port the socket is bound to, or `nil` before it is bound (or when binding failed).
    var boundPort: Int? {
        lock.withLock {
            guard case .bound(let port) = state else { return nil }
            return port
        }
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
        try lock.withLock {
            if let other = routes[path], other.name != endpoint.name {
                throw HTTPInError.pathTaken(address: "\(address)", path: path, endpoints: [other.name, endpoint.name])
            }
            routes[path] = endpoint
        }
    }

    /// Stops serving `path`; returns whether no path is left.
    func remove(path: String) -> Bool {
        lock.withLock {
            routes[path] = nil
            return routes.isEmpty
        }
    }

    /// Binds the socket (once) and returns when it is bound (`nil`) or could not be (the reason).
    func start() async -> String? {
        await withCheckedContinuation { continuation in
            enum Action {
                case launch, wait
                case answer(String?)
            }
            let action: Action = lock.withLock {
                switch state {
                case .idle:
                    state = .starting([continuation])
                    return .launch
                case .starting(let waiting):
                    state = .starting(waiting + [continuation])
                    return .wait
                case .bound: return .answer(nil)
                case .failed(let reason): return .answer(reason)
                }
            }
            switch action {
            case .launch: launch()
            case .wait: break
            case .answer(let reason): continuation.resume(returning: reason)
            }
        }
    }

    /// Stops accepting connections; requests in progress are answered first.
    func stop() async {
        let (group, task) = lock.withLock { (self.group, self.task) }
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
        lock.withLock {
            self.group = group
            self.task = task
        }
    }

    /// How a start ended: bound to a port, or why not.
    private enum StartOutcome {
        case success(Int)
        case failure(String)
    }

    private func finishStart(_ outcome: StartOutcome) {
        let waiting: [CheckedContinuation<String?, Never>] = lock.withLock {
            guard case .starting(let waiting) = state else { return [] }
            switch outcome {
            case .success(let port): state = .bound(port: port)
            case .failure(let reason): state = .failed(reason)
            }
            return waiting
        }
        guard !waiting.isEmpty else { return }
        var failure: String?
        switch outcome {
        case .failure(let reason):
            failure = reason
            context.readiness.fail(readinessName, reason: reason)
            context.logger.error("http-in listener failed", metadata: ["listen": "\(address)", "error": "\(reason)"])
        case .success(let port):
            // Logged before readiness turns: whoever sees `/ready` 200 finds the bound port in the log.
            context.logger.info(
                "http-in listening",
                metadata: ["listen": "\(address)", "address": "\(address.host)", "port": "\(port)"])
            context.readiness.satisfy(readinessName)
        }
        for continuation in waiting { continuation.resume(returning: failure) }
    }

    private func respond(to request: Request, peer: String?) async -> Response {
        guard let endpoint = lock.withLock({ routes[request.uri.path] }) else {
            context.metrics.countAdapterError(adapter: "http-in")
            context.logger.notice(
                "http-in request for an unknown path",
                metadata: ["listen": "\(address)", "path": "\(request.uri.path.prefix(200))"])
            return HTTPInAnswer.rejected(.notFound, reason: "no http-in endpoint at this path")
        }
        return await handler.respond(to: request, peer: peer, endpoint: endpoint)
    }
}
