public import Foundation
internal import StadtbusAdapters
public import StadtbusConfig
public import StadtbusCore

/// The configuration loader of the standard build, with every module wired in: the standard
/// adapters' settings schemas and steps (StadtbusAdapters), the mapping-rules compiler, and
/// XMLDSig `sign`/`verify` (``SignatureSteps``, StadtbusSignature). The `stadtbus` executable,
/// the benchmarks and the tests load configurations with it, so they accept exactly the same
/// configurations.
public enum StandardLoader {
    /// Every step this build provides, built in steps aside: the adapters' steps and `sign`/`verify`.
    public static var steps: StepRegistry {
        var steps = StandardAdapters.registry.steps
        steps.register(SignatureSteps.sign)
        steps.register(SignatureSteps.verify)
        return steps
    }

    /// A loader with this build's adapters, steps and mapping rules.
    /// - Parameter environment: the variables `${VAR}` expands from (tests pass a fixed one).
    public static func make(environment: [String: String] = ProcessInfo.processInfo.environment)
        -> ConfigurationLoader
    {
        ConfigurationLoader(
            environment: environment, adapterTypes: StandardAdapters.registry.types, steps: steps,
            mappingRules: YAMLMappingRules())
    }
}
