import Foundation
import StadtbusAdapters
import StadtbusConfig
import StadtbusCore
import XCTest

/// Paths and helpers for the configuration tests.
enum ConfigFixtures {
    /// `Tests/StadtbusConfigTests/Fixtures`.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures"
    ).path

    /// The package root.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `$STADTBUS_SHARED`, or `<package root>/../shared`.
    static var shared: String {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty { return path }
        return URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared").path
    }

    static func path(_ relative: String) -> String { directory + "/" + relative }

    /// What `config/itzehoe.yaml` needs besides the repository: stand-in certificates, token
    /// files and the invoice folder, in a temporary directory (remove it when done), and the
    /// environment that points the example there.
    static func exampleInstallation() throws -> (directory: String, environment: [String: String]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-example-\(UUID().uuidString)"
        ).path
        let fileManager = FileManager.default
        for folder in ["certs/out/authorities", "certs/trust", "run/secrets", "run/inbox/rechnungen"] {
            try fileManager.createDirectory(atPath: directory + "/" + folder, withIntermediateDirectories: true)
        }
        for file in ["itzehoe-rsa.pem", "itzehoe-rsa.key"] {
            fileManager.createFile(atPath: directory + "/certs/out/authorities/" + file, contents: Data("test".utf8))
        }
        for name in ["portal", "eakte", "zahlung"] {
            fileManager.createFile(
                atPath: directory + "/run/secrets/\(name).token", contents: Data("a-test-token-of-\(name)-1234".utf8))
        }
        return (directory, ["STADTBUS_CERTS": directory + "/certs", "STADTBUS_RUN": directory + "/run"])
    }

    /// A loader with a fixed environment (tests do not depend on the caller's), the standard
    /// adapter types, and `sign`/`verify` registered with stand-ins (no key is loaded, no
    /// signature checked) the way StadtbusStandard registers the real ones.
    static func loader(_ environment: [String: String] = [:]) -> ConfigurationLoader {
        var loader = bareLoader(environment)
        loader.steps.register(SignStepFactory { StandInSigner(key: $0.name) })
        loader.steps.register(VerifyStepFactory { _, _, _ in AcceptingVerifier() })
        return loader
    }

    /// A loader of a build without a signature module: no `sign`, no `verify`.
    static func bareLoader(_ environment: [String: String] = [:]) -> ConfigurationLoader {
        ConfigurationLoader(
            environment: ["STADTBUS_SHARED": shared].merging(environment) { $1 },
            adapterTypes: StandardAdapters.registry.types)
    }

    /// The diagnostics of loading `relative`, with the fixture directory shortened so they read
    /// like `broken/x.yaml:3:5: …` (and other absolute paths inside messages as `FIXTURES/…`).
    static func diagnostics(_ relative: String, loader: ConfigurationLoader = loader()) -> [String]? {
        do {
            _ = try loader.load(path: path(relative))
            return nil
        } catch let error as ConfigurationError {
            return error.diagnostics.map { diagnostic in
                var position = diagnostic.position
                if position.file.hasPrefix(directory + "/") { position.file.removeFirst(directory.count + 1) }
                // Config files read as `broken/…` (as `stadtbus check` run in Fixtures/ prints them);
                // other absolute paths as `FIXTURES/…`.
                let message = diagnostic.message.replacingOccurrences(of: directory + "/broken/", with: "broken/")
                    .replacingOccurrences(of: directory + "/", with: "FIXTURES/")
                return "\(position): " + message
            }
        } catch {
            return ["unexpected error \(error)"]
        }
    }

    /// A small g2g message (like the engine tests').
    static func g2g(
        uuid: String = UUID().uuidString.lowercased(), type: String = "0401", reader: String = "ags:01061017"
    ) -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <t:antrag xmlns:t="urn:stadtbus:test" xmlns:g2g="http://xoev.de/schemata/basisnachricht/g2g/1_1" xmlns:beh="http://xoev.de/schemata/basisnachricht/behoerde/1_1">
              <g2g:nachrichtenkopf.g2g>
                <g2g:identifikation.nachricht>
                  <g2g:nachrichtenUUID>\(uuid)</g2g:nachrichtenUUID>
                  <g2g:nachrichtentyp><code>\(type)</code><name>test.Antrag.\(type)</name></g2g:nachrichtentyp>
                </g2g:identifikation.nachricht>
                <g2g:leser><beh:kennung>\(reader)</beh:kennung></g2g:leser>
                <g2g:autor><beh:kennung>ags:01061046</beh:kennung></g2g:autor>
              </g2g:nachrichtenkopf.g2g>
              <t:inhalt><t:az>BP-7</t:az></t:inhalt>
            </t:antrag>
            """.utf8)
    }
}

/// A sink that records deliveries (thread-safe).
final class CollectingSink: MessageSink, @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [(String, OutgoingMessage)] = []

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        lock.withLock { stored.append((endpoint.name, message)) }
    }

    var deliveries: [(String, OutgoingMessage)] { lock.withLock { stored } }
}
