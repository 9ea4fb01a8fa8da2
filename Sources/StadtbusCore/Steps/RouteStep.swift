import StadtbusXML

/// What a step decided about the message.
public enum StepOutcome: Sendable, Equatable {
    /// Go on with the next step.
    case proceed
    /// Drop the message on purpose (disposition `.filtered`).
    case drop(reason: String)
}

/// A step failed (see ``ClassifiedFailure``); `kind` decides between retry and dead letter.
public typealias StepFailure = ClassifiedFailure

/// One step of a route (`validate`, `map`, `sign`, …, or a custom step from an adapter module).
///
/// Steps are compiled at configuration load and shared by all workers, so they must be
/// immutable. A step throws ``StepFailure`` (anything else counts as permanent).
public protocol RouteStep: Sendable {
    /// The step's name as written in the config (`validate`, `map`, or the custom name).
    var name: String { get }
    /// A short description for logs, audit and dry-run (`validate xbeteiligung`).
    var label: String { get }
    /// Whether the step only reads the document (validate, verify, filter, …). When every step of
    /// a route only reads it, the engine forwards the inbound bytes unchanged instead of serialising
    /// the document again. Defaults to `false`: a step that may change the document need not say so.
    var leavesDocumentUnchanged: Bool { get }
    func run(_ exchange: Exchange) async throws -> StepOutcome
}

extension RouteStep {
    public var leavesDocumentUnchanged: Bool { false }
}

/// Builds custom steps from their configuration. Adapter modules register factories in a
/// ``StepRegistry`` under the step name used in YAML.
public protocol StepFactory: Sendable {
    /// The step name in YAML (`- virus-scan: {…}`).
    var name: String { get }
    /// The settings the step accepts; checked at load time with file:line:column errors.
    var settingsSchema: SettingsSchema { get }
    /// Creates the step from validated settings.
    /// - Throws: an error whose description is reported at the step's position.
    func makeStep(settings: [String: ConfigValue]) throws -> any RouteStep
}

/// Custom step factories by name.
public struct StepRegistry: Sendable {
    public private(set) var factories: [String: any StepFactory] = [:]

    public init(_ factories: [any StepFactory] = []) {
        for factory in factories { register(factory) }
    }

    public mutating func register(_ factory: any StepFactory) {
        factories[factory.name] = factory
    }

    public func factory(named name: String) -> (any StepFactory)? { factories[name] }
}
