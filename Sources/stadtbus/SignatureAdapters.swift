import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusSignature
import StadtbusXML

/// Connects the routing engine's `sign`/`verify` steps (StadtbusCore's protocols) to the
/// XMLDSig implementation (StadtbusSignature). Keys and the trust store are loaded once,
/// when the configuration loads, so a configuration that loads can sign and verify.
enum SignatureAdapters {
    /// Loads a configured key (PEM key + certificate, or PKCS#12) into a reusable signer.
    static let signerFactory: SignerFactory = { key in
        let passphrase: StadtbusSignature.SecretSource
        switch key.passphrase {
        case .environment(let name): passphrase = .env(name)
        case .file(let path): passphrase = .file(path)
        case nil: passphrase = .none
        }
        let lowered = key.privateKey.lowercased()
        let signingKey: SigningKey
        if lowered.hasSuffix(".p12") || lowered.hasSuffix(".pfx") {
            signingKey = try SigningKey(pkcs12: key.privateKey, passphrase: passphrase)
        } else {
            signingKey = try SigningKey(pemKey: key.privateKey, certificate: key.certificate, passphrase: passphrase)
        }
        return Signer(key: signingKey)
    }

    /// Loads the trust store (`trust-store:`, default `certs/trust`; certificates and CRLs)
    /// into a verifier that binds each signer to the message's author — by the
    /// `signer-identities:` rules for that author, else by the certificate's own AGS
    /// identity — and applies the step's own-author and freshness settings.
    static let verifierFactory: VerifierFactory = { trustStore, identities, options in
        let directory = trustStore ?? "certs/trust"
        let rules = try identities.mapValues { try $0.map { try SignerIdentities.Match(parsing: $0) } }
        let policy = VerificationPolicy(
            ownKennung: options.ownKennung, allowsOwnAuthor: options.allowOwnAuthor, maxAge: options.maxAge,
            maxFuture: options.maxFuture)
        let verifier = try StadtbusSignature.SignatureVerifier(
            trustStore: TrustStore(directory: directory), identities: SignerIdentities(rules: rules), policy: policy)
        return Verifier(verifier: verifier)
    }

    struct Signer: MessageSigner {
        let key: SigningKey

        func sign(document: XMLDocument) throws {
            do { try key.sign(document) } catch {
                throw SignatureError(code: "sign-failed", message: "\(error)")
            }
        }
    }

    struct Verifier: StadtbusCore.SignatureVerifier {
        let verifier: StadtbusSignature.SignatureVerifier

        func verify(document: XMLDocument, header: MessageHeader) throws {
            do { _ = try verifier.verify(document, header: header) } catch {
                throw SignatureError(code: error.reason, message: error.description)
            }
        }
    }
}
