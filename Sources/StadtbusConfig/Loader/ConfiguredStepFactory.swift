import StadtbusCore

/// A step factory that needs more of the configuration than the step's own settings: the keys
/// under `keys:`, the trust store, this authority's identity. `sign` and `verify` are built this
/// way; they register in the loader's ``StepRegistry`` like every adapter step, and their
/// settings are checked against their ``StepFactory/settingsSchema`` with file:line:column errors.
public protocol ConfiguredStepFactory: StepFactory {
    /// The setting a plain value stands for: with `"key"`, `sign: NAME` means `sign: { key: NAME }`.
    /// `nil` (the default): the settings must be a mapping.
    var shorthandSetting: String? { get }

    /// Creates the step from its validated settings and the rest of the configuration.
    /// - Throws: ``StepSettingError`` to have the problem reported at one setting's value; any
    ///   other error is reported at the step's name.
    func makeStep(settings: [String: ConfigValue], context: StepContext) throws -> any RouteStep
}

extension ConfiguredStepFactory {
    public var shorthandSetting: String? { nil }

    /// A configured step cannot be built from its settings alone; the loader always calls
    /// ``makeStep(settings:context:)``.
    public func makeStep(settings: [String: ConfigValue]) throws -> any RouteStep {
        throw StepSettingError(setting: "", "step '\(name)' needs the configuration it is loaded with")
    }
}

/// What a ``ConfiguredStepFactory`` may read from the configuration being loaded.
public struct StepContext: Sendable {
    /// The configuration's sections (keys, trust store, signer identities, identity, …), as far
    /// as they loaded.
    public let settings: StadtbusSettings
    /// Names declared under `keys:` whose definition is broken (reported there already).
    let brokenKeys: Set<String>

    /// The key declared under `keys:` as `name`, for a step's `setting`.
    /// - Throws: ``StepSettingError`` at `setting` when no such key is declared (with a
    ///   did-you-mean), or a silent one when the key is declared but broken.
    public func key(named name: String, setting: String) throws(StepSettingError) -> KeyDefinition {
        if let key = settings.keys[name] { return key }
        if brokenKeys.contains(name) { throw StepSettingError(reportedElsewhere: setting) }
        throw StepSettingError(
            setting: setting,
            "unknown signing key '\(name)'"
                + (DidYouMean.suggestion(for: name, in: Array(settings.keys.keys)).map { " — did you mean '\($0)'?" }
                    ?? " — declare it under 'keys:'"))
    }
}

/// A problem with one setting of a step, found when the step is built; the loader reports it at
/// that setting's value (file:line:column).
public struct StepSettingError: Error, Sendable, CustomStringConvertible {
    /// The setting's name in the step's settings schema.
    public let setting: String
    /// What is wrong, for a human: "unknown signing key 'x' — declare it under 'keys:'".
    public let message: String
    /// The problem was reported where it is declared (a broken `keys:` entry): nothing to add.
    let isReportedElsewhere: Bool

    /// A problem with `setting`, described by `message`.
    public init(setting: String, _ message: String) {
        self.setting = setting
        self.message = message
        self.isReportedElsewhere = false
    }

    init(reportedElsewhere setting: String) {
        self.setting = setting
        self.message = "reported where it is declared"
        self.isReportedElsewhere = true
    }

    public var description: String { message }
}
