import StadtbusCore

/// `sign: NAME` or `sign: { key: NAME }` — signs the document with a key declared under `keys:`.
///
/// The factory checks the step's settings and resolves the key; the signer itself comes from the
/// module that implements signing (XMLDSig in StadtbusStandard's `SignatureSteps`; dry-run and
/// tests pass their own). It registers in the loader's ``StepRegistry`` like every other step,
/// so a build that registers no `sign` refuses such a configuration at load time.
public struct SignStepFactory: ConfiguredStepFactory {
    private let makeSigner: SignerFactory

    /// A factory whose steps sign with the signers `makeSigner` creates from a configured key
    /// (called once per step, at load time; its errors are reported at the step's `key`).
    public init(signer makeSigner: @escaping SignerFactory) {
        self.makeSigner = makeSigner
    }

    public var name: String { "sign" }

    public var shorthandSetting: String? { "key" }

    public var settingsSchema: SettingsSchema {
        SettingsSchema([
            .init(
                "key", .checked("the name of a key under 'keys:'", { _ in nil }), required: true,
                help: "the key to sign with, declared under 'keys:'")
        ])
    }

    public func makeStep(settings: [String: ConfigValue], context: StepContext) throws -> any RouteStep {
        let name = settings["key"]?.string ?? ""
        let key = try context.key(named: name, setting: "key")
        do {
            return SignStep(keyName: name, signer: try makeSigner(key))
        } catch {
            throw StepSettingError(setting: "key", "key '\(name)' cannot be used for signing: \(error)")
        }
    }
}
