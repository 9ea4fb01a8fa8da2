import ArgumentParser
import Foundation
import StadtbusSignature
import StadtbusXML

/// `stadtbus sign --key KEY [--cert CERT] FILE`: signs an XÖV message with an enveloped
/// XMLDSig signature and writes the signed document to standard output (or `--output`).
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign an XÖV message (enveloped XMLDSig, RSA-SHA256 or ECDSA-P256-SHA256).",
        discussion: """
            The key is a PEM private key (then --cert names its PEM certificate) or a PKCS#12
            file (.p12/.pfx, certificate included). A passphrase is read from an environment
            variable or a file, never from the command line; for PKCS#12 files it defaults to
            the environment variable STADTBUS_P12_PASSPHRASE.
            """
    )

    @Option(name: .long, help: "Private key: PEM file, or PKCS#12 file (.p12/.pfx).")
    var key: String

    @Option(name: .long, help: "PEM certificate of the key (required for PEM keys).")
    var cert: String?

    @Option(name: .long, help: "Environment variable holding the key's passphrase.")
    var passphraseEnv: String?

    @Option(name: .long, help: "File holding the key's passphrase.")
    var passphraseFile: String?

    @Option(name: [.short, .long], help: "Write the signed document here instead of standard output.")
    var output: String?

    @Argument(help: "The XML message to sign.")
    var file: String

    func validate() throws {
        if passphraseEnv != nil && passphraseFile != nil {
            throw ValidationError("give --passphrase-env or --passphrase-file, not both")
        }
        if !isPKCS12 && cert == nil {
            throw ValidationError("a PEM key needs --cert with its certificate")
        }
    }

    private var isPKCS12: Bool {
        let lower = key.lowercased()
        return lower.hasSuffix(".p12") || lower.hasSuffix(".pfx")
    }

    func run() throws {
        let passphrase: SecretSource
        if let passphraseEnv {
            passphrase = .env(passphraseEnv)
        } else if let passphraseFile {
            passphrase = .file(passphraseFile)
        } else {
            passphrase = isPKCS12 ? .env("STADTBUS_P12_PASSPHRASE") : .none
        }
        let signingKey: SigningKey
        if isPKCS12 {
            signingKey = try SigningKey(pkcs12: key, passphrase: passphrase)
        } else {
            signingKey = try SigningKey(pemKey: key, certificate: cert ?? "", passphrase: passphrase)
        }
        let document = try XMLDocument(parsing: try Data(contentsOf: URL(fileURLWithPath: file)))
        try signingKey.sign(document)
        let bytes = Data(try document.serialized())
        if let output {
            try bytes.write(to: URL(fileURLWithPath: output))
        } else {
            FileHandle.standardOutput.write(bytes)
        }
    }
}
