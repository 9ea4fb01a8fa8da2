import StadtbusCore

/// An adapter connects Stadtbus to one kind of system (a broker, an HTTP service, a folder, a
/// program): it declares the endpoint settings it understands and creates the sinks and
/// sources the runtime uses for endpoints of its type.
///
/// Adapters live in their own SwiftPM target under `adapters/NAME/` and are registered in
/// one line in `StandardAdapters` (see README, "Write your own adapter").
///
/// The ack rule (shared/design/message-lifecycle.md) binds every adapter: a sink returns only
/// when the message is durable at the receiver, and a source lets go of a message (ack,
/// move to `done/`, answer 2xx) only after the engine's disposition is durable.
public protocol Adapter: Sendable {
    /// The `type:` name, the settings schema (`stadtbus check` validates endpoint settings
    /// against it, with file:line:column errors) and the directions it supports.
    var type: AdapterType { get }

    /// Custom route steps this adapter brings, registered under their YAML names.
    var steps: [any StepFactory] { get }

    /// Called with every endpoint of this type at start and after each reload, before any
    /// source starts: declare queues, create folders, check that a program exists.
    func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws

    /// The sink that delivers to endpoints of this type. Called once per runtime; the sink
    /// must be safe to call concurrently.
    func makeSink(context: AdapterContext) throws -> any MessageSink

    /// A source for one endpoint that a route reads from (`from:`).
    func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource

    /// Called once at shutdown, after the sources stopped and in-flight messages drained:
    /// release what the sinks hold (stop the programs of `exec` endpoints, …).
    func shutdown() async
}

extension Adapter {
    public var steps: [any StepFactory] { [] }

    public func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws {}

    public func makeSink(context: AdapterContext) throws -> any MessageSink {
        throw AdapterError.unsupported(adapter: type.name, what: "delivering messages (it cannot be used in 'to:')")
    }

    public func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        throw AdapterError.unsupported(adapter: type.name, what: "receiving messages (it cannot be used in 'from:')")
    }

    public func shutdown() async {}
}

/// Where messages enter Stadtbus: a queue consumer, a folder watcher, an HTTP listener.
///
/// A source hands each message with its ``Settlement`` to a ``SourcePump``, which runs the
/// engine and settles the message by the ack rule; a source never settles by the disposition
/// itself. ``run()`` returns after ``stop()`` once the messages in flight are settled.
public protocol MessageSource: Sendable {
    /// The endpoint this source reads.
    var endpoint: Endpoint { get }
    /// Takes messages until ``stop()`` (or cancellation), then finishes those in flight.
    func run() async throws
    /// Stops taking new messages; in-flight ones are finished by ``run()``.
    func stop() async
}

/// Why an adapter cannot do what the configuration asks.
public enum AdapterError: Error, CustomStringConvertible, Equatable {
    case unsupported(adapter: String, what: String)
    case missingSetting(endpoint: String, setting: String)
    case unknownBroker(endpoint: String, broker: String)
    case failed(adapter: String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let adapter, let what): return "adapter '\(adapter)' does not support \(what)"
        case .missingSetting(let endpoint, let setting): return "endpoint '\(endpoint)' has no '\(setting)' setting"
        case .unknownBroker(let endpoint, let broker):
            return "endpoint '\(endpoint)' uses broker '\(broker)', which is not configured under 'brokers:'"
        case .failed(let adapter, let reason): return "adapter '\(adapter)': \(reason)"
        }
    }
}
