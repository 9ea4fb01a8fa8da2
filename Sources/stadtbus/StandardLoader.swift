import StadtbusAdapters
import StadtbusConfig

/// The configuration loader every command uses, with the modules of this build wired in
/// (the adapters' settings schemas and steps, mapping rules, XMLDSig signing and verification).
enum StandardLoader {
    static func make() -> ConfigurationLoader {
        let adapters = StandardAdapters.registry
        var loader = ConfigurationLoader(
            adapterTypes: adapters.types, steps: adapters.steps, mappingRules: YAMLMappingRules(),
            signerFactory: SignatureAdapters.signerFactory)
        loader.verifierFactory = SignatureAdapters.verifierFactory
        return loader
    }
}
