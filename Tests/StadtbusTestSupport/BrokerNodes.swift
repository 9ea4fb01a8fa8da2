import Foundation
import StadtbusAMQP

/// The broker node the end-to-end and reliability tests stop and start: this checkout's `chaos`
/// node, never the shared main node (`scripts/broker port chaos` tells its port).
public enum ChaosBroker {
    public static let port: Int = nodePort("chaos", fallback: 5692)

    public static func start() throws { try shell(["scripts/broker", "start", "chaos"]) }
    /// Stops the whole broker process (`scripts/broker stop chaos`).
    public static func stop() throws { try shell(["scripts/broker", "stop", "chaos"]) }
    public static func stopApp() throws { try shell(["scripts/broker", "ctl", "chaos", "stop_app"]) }
    public static func startApp() throws { try shell(["scripts/broker", "ctl", "chaos", "start_app"]) }

    public static var endpoint: AMQPEndpoint {
        AMQPEndpoint(
            host: "127.0.0.1", port: port, username: "guest", password: .literal("guest"), heartbeat: 10,
            reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(2)),
            timeout: .seconds(10), connectionName: "stadtbus-e2e-tests")
    }
}

/// A second municipality's broker in the tests: this checkout's `neighbour` node.
public enum NeighbourBroker {
    public static let port: Int = nodePort("neighbour", fallback: 5992)

    public static func start() throws { try shell(["scripts/broker", "start", "neighbour"]) }
    public static func stopApp() throws { try shell(["scripts/broker", "ctl", "neighbour", "stop_app"]) }
    public static func startApp() throws { try shell(["scripts/broker", "ctl", "neighbour", "start_app"]) }

    public static var endpoint: AMQPEndpoint {
        var endpoint = ChaosBroker.endpoint
        endpoint.port = port
        return endpoint
    }
}

/// The AMQP port of a per-checkout node (`scripts/broker port NODE`).
private func nodePort(_ node: String, fallback: Int) -> Int {
    (try? shell(["scripts/broker", "port", node])).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        ?? fallback
}
