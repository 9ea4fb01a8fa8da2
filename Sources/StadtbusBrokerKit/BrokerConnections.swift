import StadtbusAMQP
import Synchronization

/// The runtime's broker connections by name: `main` (the `broker:` section) and every entry
/// of `brokers:` (a neighbouring municipality's broker, for example).
///
/// The runtime connects and watches them; adapters look them up. A broker that is down is
/// reported as such, so a sink can fail fast with a transient error (the message is retried
/// later) instead of blocking a worker until the broker returns.
public final class BrokerConnections: Sendable {
    private struct State {
        var connections: [String: AMQPConnection] = [:]
        var up: Set<String> = []
        var publishers: [String: AMQPPublisher] = [:]
        var waiters: [String: [CheckedContinuation<AMQPConnection, Never>]] = [:]
    }

    private let state = Mutex(State())
    private let configured: Set<String>

    /// No brokers: what ``AdapterContext/brokers`` returns when the runtime provides none.
    public static let none = BrokerConnections(names: [])

    /// - Parameter names: the configured broker names (`main` plus those under `brokers:`).
    public init(names: [String]) {
        configured = Set(names)
    }

    /// Whether `name` is a configured broker.
    public func isConfigured(_ name: String) -> Bool { configured.contains(name) }

    /// Records the connection to `name` once it is established (the runtime calls this).
    public func attach(_ connection: AMQPConnection, as name: String) {
        let publisher = connection.publisher()
        let waiting = state.withLock { state in
            state.connections[name] = connection
            state.publishers[name] = publisher
            state.up.insert(name)
            return state.waiters.removeValue(forKey: name) ?? []
        }
        for waiter in waiting { waiter.resume(returning: connection) }
    }

    /// Records whether `name` is currently connected (from the connection's events).
    public func setConnected(_ name: String, _ connected: Bool) {
        state.withLock { state in
            if connected { state.up.insert(name) } else { state.up.remove(name) }
        }
    }

    /// The connection to `name`, if it has been established once (it may be reconnecting).
    public func connection(_ name: String) -> AMQPConnection? { state.withLock { $0.connections[name] } }

    /// Whether `name` is connected right now.
    public func isConnected(_ name: String) -> Bool { state.withLock { $0.up.contains(name) } }

    /// The shared publisher of `name` (publisher confirms), if connected once.
    public func publisher(_ name: String) -> AMQPPublisher? { state.withLock { $0.publishers[name] } }

    /// Waits until the connection to `name` has been established once.
    public func waitForConnection(_ name: String) async -> AMQPConnection {
        await withCheckedContinuation { (continuation: CheckedContinuation<AMQPConnection, Never>) in
            let ready: AMQPConnection? = state.withLock { state in
                if let connection = state.connections[name] { return connection }
                state.waiters[name, default: []].append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Every established connection with its name.
    public var all: [(name: String, connection: AMQPConnection)] {
        state.withLock { state in state.connections.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}
