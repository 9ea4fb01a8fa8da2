import StadtbusConfig
import StadtbusCore

/// The adapters of this build, by type name.
public struct AdapterRegistry: Sendable {
    public private(set) var adapters: [String: any Adapter] = [:]

    public init(_ adapters: [any Adapter] = []) {
        for adapter in adapters { register(adapter) }
    }

    /// Adds (or replaces) the adapter for its type name.
    public mutating func register(_ adapter: any Adapter) {
        adapters[adapter.type.name] = adapter
    }

    public subscript(type: String) -> (any Adapter)? { adapters[type] }

    /// The types for the configuration loader (settings schemas and directions).
    public var types: AdapterTypeRegistry { AdapterTypeRegistry(adapters.values.map(\.type)) }

    /// Every adapter's custom steps for the configuration loader.
    public var steps: StepRegistry { StepRegistry(adapters.values.flatMap(\.steps)) }
}
