import Foundation
import StadtbusAMQP
import StadtbusConfig

/// The runtime's broker connections by name: `main` (the `broker:` section) and every entry
/// of `brokers:` (a neighbouring municipality's broker, for example).
///
/// The runtime connects and watches them; adapters look them up. A broker that is down is
/// reported as such, so a sink can fail fast with a transient error (the message is retried
/// later) instead of blocking a worker until the broker returns.
public final class BrokerConnections: @unchecked Sendable {
    private let lock = NSLock()
    private var connections: [String: AMQPConnection] = [:]
    private var up: Set<String> = []
    private var publishers: [String: AMQPPublisher] = [:]
    private var waiters: [String: [CheckedContinuation<AMQPConnection, Never>]] = [:]
    private var configured: Set<String>

    /// - Parameter names: the configured broker names (`main` plus those under `brokers:`).
    public init(names: [String]) {
        configured = Set(names)
    }

    /// Whether `name` is a configured broker.
    public func isConfigured(_ name: String) -> Bool { lock.withLock { configured.contains(name) } }

    /// Records the connection to `name` once it is established (the runtime calls this).
    public func attach(_ connection: AMQPConnection, as name: String) {
        let waiting = lock.withLock {
            connections[name] = connection
            publishers[name] = connection.publisher()
            up.insert(name)
            return waiters.removeValue(forKey: name) ?? []
        }
        for waiter in waiting { waiter.resume(returning: connection) }
    }

    /// Records whether `name` is currently connected (from the connection's events).
    public func setConnected(_ name: String, _ connected: Bool) {
        lock.withLock {
            if connected { up.insert(name) } else { up.remove(name) }
        }
    }

    /// The connection to `name`, if it has been established once (it may be reconnecting).
    public func connection(_ name: String) -> AMQPConnection? { lock.withLock { connections[name] } }

    /// Whether `name` is connected right now.
    public func isConnected(_ name: String) -> Bool { lock.withLock { up.contains(name) } }

    /// The shared publisher of `name` (publisher confirms), if connected once.
    public func publisher(_ name: String) -> AMQPPublisher? { lock.withLock { publishers[name] } }

    /// Waits until the connection to `name` has been established once.
    public func waitForConnection(_ name: String) async -> AMQPConnection {
        await withCheckedContinuation { continuation in
            let ready: AMQPConnection? = lock.withLock {
                if let connection = connections[name] { return connection }
                waiters[name, default: []].append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Every established connection with its name.
    public var all: [(name: String, connection: AMQPConnection)] {
        lock.withLock { connections.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}
