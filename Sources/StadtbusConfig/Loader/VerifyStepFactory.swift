import StadtbusCore

/// `verify`, or `verify: { allow-own-author: BOOL, max-age: DURATION | off, max-future: DURATION }`
/// — checks the document's signature against the trust store (`trust-store:`), binds the signer
/// to the message's author (`signer-identities:`) and checks the message's freshness.
///
/// The factory checks the step's settings; the verifier itself comes from the module that
/// implements verification (XMLDSig in StadtbusStandard's `SignatureSteps`; dry-run and tests
/// pass their own). It registers in the loader's ``StepRegistry`` like every other step, so a
/// build that registers no `verify` refuses such a configuration at load time instead of
/// failing every message at run time.
public struct VerifyStepFactory: ConfiguredStepFactory {
    private let makeVerifier: VerifierFactory

    /// A factory whose steps verify with the verifiers `makeVerifier` creates from the trust
    /// store, the signer identity rules and the step's options (called once per step, at load time).
    public init(verifier makeVerifier: @escaping VerifierFactory) {
        self.makeVerifier = makeVerifier
    }

    public var name: String { "verify" }

    public var settingsSchema: SettingsSchema {
        SettingsSchema([
            .init(
                "allow-own-author", .bool, default: .bool(false),
                help: "accept messages whose author is this authority (refused by default: a reflected message)"),
            .init(
                "max-age", .checked("a duration longer than 0s like 12h or 7d, or 'off'", Self.checkMaxAge),
                help: "how old the header's creation time may be (default 7d); 'off' switches the check off"),
            .init(
                "max-future", .duration,
                help: "how far ahead of this clock the creation time may be (default 5m)"),
        ])
    }

    public func makeStep(settings: [String: ConfigValue], context: StepContext) throws -> any RouteStep {
        var options = VerifyOptions(ownKennung: context.settings.identity?.kennung)
        if let allow = settings["allow-own-author"]?.bool { options.allowOwnAuthor = allow }
        if let text = settings["max-age"]?.string {
            options.maxAge = Self.switchedOff.contains(text) ? nil : DurationSyntax.parse(text)
        }
        if let skew = settings["max-future"]?.duration { options.maxFuture = skew }
        do {
            return VerifyStep(
                verifier: try makeVerifier(context.settings.trustStore, context.settings.signerIdentities, options))
        } catch {
            throw VerifierSetupError(reason: "\(error)")
        }
    }

    /// The words that switch the freshness check off (`max-age: off`).
    static let switchedOff: Set<String> = ["off", "false", "no"]

    /// Accepts `off` or a duration longer than zero.
    @Sendable static func checkMaxAge(_ text: String) -> String? {
        if switchedOff.contains(text) { return nil }
        guard let age = DurationSyntax.parse(text), age > .zero else { return "found '\(text)'" }
        return nil
    }
}

/// The verifier of a `verify` step could not be created (an unusable trust store, a broken
/// signer identity rule); reported at the step.
struct VerifierSetupError: Error, CustomStringConvertible {
    let reason: String
    var description: String { "the verifier cannot be set up: \(reason)" }
}
