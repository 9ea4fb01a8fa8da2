public import StadtbusConfig
internal import StadtbusCore
internal import StadtbusSignature

/// The `sign` and `verify` steps backed by XMLDSig (StadtbusSignature). Keys and the trust
/// store are loaded once, when the configuration loads, so a configuration that loads can sign
/// and verify; a key or trust store that cannot be used is a load error at the step.
public enum SignatureSteps {
    /// `sign: NAME`: signs with the key declared under `keys:` (PEM key + certificate, or PKCS#12).
    public static let sign = SignStepFactory(signer: makeSigner)

    /// `verify`: checks signatures against the trust store (`trust-store:`, default
    /// `certs/trust`; certificates and CRLs) and binds each signer to the message's author — by
    /// the `signer-identities:` rules for that author, else by the certificate's own AGS
    /// identity — with the step's own-author and freshness settings.
    public static let verify = VerifyStepFactory(verifier: makeVerifier)

    /// The trust store directory when the configuration names none.
    public static let defaultTrustStore = "certs/trust"

    /// Loads a configured key into a reusable signer.
    @Sendable static func makeSigner(_ key: KeyDefinition) throws -> any MessageSigner {
        let passphrase: StadtbusSignature.SecretSource
        switch key.passphrase {
        case .environment(let name): passphrase = .env(name)
        case .file(let path): passphrase = .file(path)
        case nil: passphrase = .none
        }
        let lowered = key.privateKey.lowercased()
        if lowered.hasSuffix(".p12") || lowered.hasSuffix(".pfx") {
            return XMLDSigSigner(key: try SigningKey(pkcs12: key.privateKey, passphrase: passphrase))
        }
        return XMLDSigSigner(
            key: try SigningKey(pemKey: key.privateKey, certificate: key.certificate, passphrase: passphrase))
    }

    /// Loads the trust store and the signer identity rules into a verifier with the step's options.
    @Sendable static func makeVerifier(
        trustStore: String?, identities: [String: [String]], options: VerifyOptions
    ) throws -> any StadtbusCore.SignatureVerifier {
        let rules = try identities.mapValues { try $0.map { try SignerIdentities.Match(parsing: $0) } }
        let policy = VerificationPolicy(
            ownKennung: options.ownKennung, allowsOwnAuthor: options.allowOwnAuthor, maxAge: options.maxAge,
            maxFuture: options.maxFuture)
        let verifier = try StadtbusSignature.SignatureVerifier(
            trustStore: TrustStore(directory: trustStore ?? defaultTrustStore),
            identities: SignerIdentities(rules: rules), policy: policy)
        return XMLDSigVerifier(verifier: verifier)
    }
}
