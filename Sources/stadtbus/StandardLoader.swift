import StadtbusConfig

/// The configuration loader every command uses, with the modules of this build wired in
/// (mapping rules, XMLDSig signing and verification).
enum StandardLoader {
    static func make() -> ConfigurationLoader {
        var loader = ConfigurationLoader(mappingRules: YAMLMappingRules(), signerFactory: SignatureAdapters.signerFactory)
        loader.verifierFactory = SignatureAdapters.verifierFactory
        return loader
    }
}
