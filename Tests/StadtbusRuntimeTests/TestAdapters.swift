import Foundation
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusBrokerKit
import StadtbusConfig
import StadtbusCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `stuck`: a source that takes one message from its queue (on the main broker) and never lets
/// go of it — its `run()` does not return, not even after `stop()` or cancellation. Only the
/// test ends it (``release``), after the runtime has shut down without it.
struct StuckAdapter: Adapter {
    /// Raised once the source holds a message (unacked).
    let holding = Flag()
    /// Raised by the test at its end: then `run()` returns (still without acking).
    let release = Flag()
    let events: EventLog

    let type = AdapterType(
        name: "stuck", settings: SettingsSchema([.init("queue", .string, required: true)]), canReceive: true,
        canSend: false, summary: "test: a source that never returns")

    func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws {
        let queues = endpoints.compactMap { $0.settings["queue"]?.string }.map { AMQPQueue($0) }
        guard !queues.isEmpty else { return }
        try await context.brokers.waitForConnection(BrokerSettings.mainName).declare(AMQPTopology(queues: queues))
    }

    func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        guard let queue = endpoint.settings["queue"]?.string else {
            throw AdapterError.missingSetting(endpoint: endpoint.name, setting: "queue")
        }
        return Source(endpoint: endpoint, queue: queue, context: context, adapter: self)
    }

    struct Source: MessageSource {
        let endpoint: Endpoint
        let queue: String
        let context: AdapterContext
        let adapter: StuckAdapter

        func run() async throws {
            let connection = await context.brokers.waitForConnection(BrokerSettings.mainName)
            let consumer = try await connection.consume(queue: queue, prefetch: 1)
            context.readiness.satisfy("consumer:\(endpoint.name)")
            for await _ in consumer.deliveries {
                adapter.events.record("stuck source holds a message")
                adapter.holding.raise()
                await adapter.release.wait()  // ignores stop() and cancellation
                return
            }
        }

        func stop() async {
            adapter.events.record("stuck source asked to stop (and ignores it)")
        }
    }
}

/// `recorder`: an adapter that only records its ``shutdown()`` — with what `/ready` answers
/// at that moment, over HTTP — so a test sees where the adapters' shutdown falls in the order.
struct RecordingAdapter: Adapter {
    let events: EventLog
    /// The operations server's port, once known.
    let operationsPort = Box<Int?>(nil)

    let type = AdapterType(
        name: "recorder", settings: SettingsSchema([]), canReceive: false, canSend: true,
        summary: "test: records the adapter shutdown")

    func makeSink(context: AdapterContext) throws -> any MessageSink { Sink() }

    func shutdown() async {
        var metadata: [String: String] = [:]
        if let port = operationsPort.value, let url = URL(string: "http://127.0.0.1:\(port)/ready") {
            do {
                let (data, response) = try await URLSession.shared.data(from: url)
                metadata["ready_status"] = "\((response as? HTTPURLResponse)?.statusCode ?? 0)"
                metadata["ready_body"] = String(decoding: data, as: UTF8.self)
            } catch {
                metadata["ready_status"] = "unreachable: \(error)"
            }
        }
        events.record("recorder: adapter shutdown", metadata)
    }

    struct Sink: MessageSink {
        func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {}
    }
}

/// A value shared between a test and the adapters it registered.
final class Box<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) { storage = Mutex(value) }

    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
