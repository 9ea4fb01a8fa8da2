import ArgumentParser
import Foundation
import StadtbusSignature
import StadtbusXML

/// `stadtbus verify [--trust DIR] [--identities FILE] FILE`: verifies a signed XÖV message
/// and the binding of its signer to the header's author. Prints `OK …` and exits 0, or
/// prints `REJECTED <reason>: <description>` to standard error and exits 1.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the signature of an XÖV message and bind its signer to the sender.",
        discussion: """
            The signer certificate must chain to a CA in the trust directory (all *.pem files),
            be valid now and be issued for signing. Its identity must match the header's author
            kennung: by default a certificate with subject serialNumber "ags:<AGS>" or SAN URI
            "urn:de:ags:<AGS>" may sign for kennung "ags:<AGS>". An identities file adds
            explicit rules, one per line: KENNUNG KIND=VALUE with KIND one of ags,
            fingerprint-sha256, cn, serial, san-uri (several lines per kennung allowed; # starts
            a comment). Example: "xyz:0001 fingerprint-sha256=3f9a…".
            Reason codes on rejection: no-signature, multiple-signatures, bad-digest,
            bad-signature-value, unknown-signer, expired, untrusted-chain, wrong-key-usage,
            identity-mismatch, wrapped-signature, malformed-signature.
            """
    )

    @Option(name: .long, help: "Trust store directory (all *.pem files are trust anchors).")
    var trust: String = "certs/trust"

    @Option(name: .long, help: "File of explicit identity rules (KENNUNG KIND=VALUE per line).")
    var identities: String?

    @Argument(help: "The signed XML message.")
    var file: String

    func run() throws {
        let rules = try identities.map(Self.readIdentities) ?? SignerIdentities()
        let verifier = try SignatureVerifier(trustStore: try TrustStore(directory: trust), identities: rules)
        let document: XMLDocument
        let header: MessageHeader
        do {
            document = try XMLDocument(parsing: try Data(contentsOf: URL(fileURLWithPath: file)))
            header = try HeaderExtractor().header(of: document)
        } catch let error as XMLError {
            Self.reject(SignatureFailure.malformed("\(error)"))
        } catch let error as HeaderError {
            Self.reject(SignatureFailure.malformed("\(error)"))
        }
        do {
            let result = try verifier.verify(document, header: header)
            print(
                "OK kennung=\(result.kennung) binding=\(result.binding) signer=\"\(result.signer.subject)\" sha256=\(result.signer.fingerprintSHA256)"
            )
        } catch {
            Self.reject(error)
        }
    }

    private static func reject(_ failure: SignatureFailure) -> Never {
        FileHandle.standardError.write(Data("REJECTED \(failure.reason): \(failure.description)\n".utf8))
        Foundation.exit(1)
    }

    /// Reads `KENNUNG KIND=VALUE` lines.
    static func readIdentities(_ path: String) throws -> SignerIdentities {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var result = SignerIdentities()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw ValidationError("\(path):\(number + 1): expected 'KENNUNG KIND=VALUE'")
            }
            let kennung = String(line[..<space])
            let rule = try SignerIdentities.Match(parsing: line[space...].trimmingCharacters(in: .whitespaces))
            result.rules[kennung, default: []].append(rule)
        }
        return result
    }
}
