/// The shared services the runtime hands to adapters, one value per type: broker connections
/// (``StadtbusBrokerKit``), and whatever a future transport needs, without the adapter kit
/// knowing about any of them.
///
/// A transport module defines its service type and an `AdapterContext` extension that looks it
/// up here (`context.brokers`), so an adapter that does not use that transport does not link it.
///
/// ```swift
/// var resources = AdapterResources()
/// resources.insert(brokers)                       // the runtime
/// let brokers = context.resources[BrokerConnections.self]  // an adapter
/// ```
public struct AdapterResources: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// An empty bag.
    public init() {}

    /// Stores `value` under its static type `Resource`, replacing one stored before.
    public mutating func insert<Resource: Sendable>(_ value: Resource) {
        values[ObjectIdentifier(Resource.self)] = value
    }

    /// A copy of this bag with `value` stored under its static type.
    public func inserting<Resource: Sendable>(_ value: Resource) -> AdapterResources {
        var copy = self
        copy.insert(value)
        return copy
    }

    /// The value stored under `type`, or `nil` when the runtime provides none.
    public subscript<Resource: Sendable>(_ type: Resource.Type) -> Resource? {
        values[ObjectIdentifier(type)] as? Resource
    }

    /// Whether a value is stored under `type`.
    public func contains<Resource: Sendable>(_ type: Resource.Type) -> Bool {
        values[ObjectIdentifier(type)] != nil
    }
}
