import StadtbusConfig

/// The configuration loader every command uses, with the modules of this build wired in
/// (mapping rules; signing and verification once the signature module is linked).
enum StandardLoader {
    static func make() -> ConfigurationLoader {
        ConfigurationLoader(mappingRules: YAMLMappingRules())
    }
}
