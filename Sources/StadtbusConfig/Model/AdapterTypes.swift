import StadtbusCore

/// The adapter types the loader knows, by name. The executable fills it from the adapter
/// registry (every module under `adapters/` declares its type and settings schema).
public struct AdapterTypeRegistry: Sendable {
    public private(set) var types: [String: AdapterType] = [:]

    public init(_ types: [AdapterType] = []) {
        for type in types { register(type) }
    }

    public mutating func register(_ type: AdapterType) { types[type.name] = type }

    public subscript(name: String) -> AdapterType? { types[name] }
}
