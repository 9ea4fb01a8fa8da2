import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusXML
import XCTest
import Yams

/// A custom step as an adapter module would register it: adds a header.
struct StempelFactory: StepFactory {
    var name: String { "stempel" }
    var settingsSchema: SettingsSchema { SettingsSchema([.init("text", .string, required: true)]) }
    func makeStep(settings: [String: ConfigValue]) throws -> any RouteStep {
        StempelStep(text: settings["text"]?.string ?? "")
    }
}

struct StempelStep: RouteStep {
    let text: String
    var name: String { "stempel" }
    var label: String { "stempel \(text)" }
    func run(_ exchange: Exchange) async throws -> StepOutcome {
        exchange.headers["x-stempel"] = text
        return .proceed
    }
}

/// A stand-in for the mapping module: compiles any rules to the wrap stylesheet and
/// remembers which file it was given.
struct FakeMappingCompiler: MappingRulesCompiling {
    func compile(node: Yams.Node, file: String) throws -> XSLTStylesheet {
        guard node["target"] != nil else {
            throw ConfigDiagnostic(SourcePosition(file: file, line: 1, column: 1), "rules need 'target'")
        }
        return try XSLTStylesheet(path: ConfigFixtures.path("support/wrap.xsl"))
    }
}

final class ValidConfigTests: XCTestCase {
    private func loader() -> ConfigurationLoader {
        var loader = ConfigFixtures.loader()
        loader.steps.register(StempelFactory())
        return loader
    }

    private func load() throws -> LoadedConfiguration {
        do {
            return try loader().load(path: ConfigFixtures.path("valid/stadtbus.yaml"))
        } catch {
            XCTFail("valid config did not load:\n\(error)")
            throw error
        }
    }

    func testSettingsAreReadAndTyped() throws {
        let loaded = try load()
        let settings = loaded.settings
        XCTAssertEqual(loaded.files.map { ($0 as NSString).lastPathComponent }, ["stadtbus.yaml", "endpoints.yaml"])
        XCTAssertEqual(
            settings.identity, IdentitySettings(kennung: "ags:01061046", name: "Stadt Itzehoe", directory: "DVDV"))
        let broker = try XCTUnwrap(settings.broker)
        XCTAssertEqual(broker.host, "rabbit.itzehoe.internal")
        XCTAssertEqual(broker.port, 5671)
        XCTAssertEqual(broker.heartbeat, .seconds(15))
        XCTAssertEqual(broker.password, .file(ConfigFixtures.path("support/test-cert.pem")))
        XCTAssertEqual(broker.tls?.key, ConfigFixtures.path("support/test-key-placeholder.pem"))
        XCTAssertEqual(settings.keys["itzehoe"]?.passphrase, .environment("ITZEHOE_KEY_PASSPHRASE"))
        XCTAssertEqual(settings.stores.retention, .seconds(30 * 86_400))
        XCTAssertEqual(
            settings.stores.idempotency,
            URL(fileURLWithPath: ConfigFixtures.directory + "/../run/idempotency.sqlite").standardizedFileURL.path)
        XCTAssertEqual(settings.http.port, 8081)
        XCTAssertEqual(settings.maxInFlight, 300)
        XCTAssertEqual(settings.warnings, [])
        XCTAssertEqual(settings.logLevel, "debug")
        XCTAssertEqual(settings.endpoints.count, 9)
        XCTAssertEqual(settings.endpoints["portal"]?.settings["prefetch"], .int(32))
        XCTAssertEqual(settings.endpoints["portal"]?.settings["persistent"], .bool(true), "defaults are filled in")
        XCTAssertEqual(settings.endpoints["breitenburg"]?.settings["timeout"], .duration(.seconds(10)))
        XCTAssertEqual(settings.endpoints["breitenburg"]?.settings["headers"], .map(["x-api": .string("stadtbus")]))
        XCTAssertEqual(settings.endpoints["archiv"]?.settings["directory"], .path(ConfigFixtures.path("support")))
    }

    func testRoutesAreCompiledWithPolicies() throws {
        let table = try load().table
        XCTAssertEqual(table.routes.map(\.name), ["antrag", "kopie", "verteilung", "beteiligung", "wasser"])
        let antrag = try XCTUnwrap(table.route(named: "antrag"))
        XCTAssertEqual(antrag.steps.map(\.name), ["validate", "verify", "set-header", "map", "stempel", "sign"])
        XCTAssertEqual(
            antrag.errorPolicy,
            ErrorPolicy(
                retry: RetryPolicy(
                    maxAttempts: 3, minDelay: .milliseconds(500), maxDelay: .seconds(10),
                    retryOn: ["timeout", "http-503"]),
                deadLetter: "dlq"))
        XCTAssertEqual(
            table.route(named: "kopie")?.errorPolicy,
            ErrorPolicy(
                retry: RetryPolicy(maxAttempts: 4, minDelay: .seconds(1), maxDelay: .seconds(60)), deadLetter: "dlq"))
        XCTAssertEqual(table.route(named: "beteiligung")?.errorPolicy.retry.maxAttempts, 1)
        XCTAssertNil(table.route(named: "kopie")?.source)
        XCTAssertEqual(table.defaultDeadLetter, "dlq")
        XCTAssertEqual(
            "\(antrag.condition)",
            "message-type ['0401', '0402'] and author 'ags:01061*' and header x-source 'portal' and xpath /t:antrag/t:inhalt/t:az"
        )
    }

    func testTheCompiledConfigurationRoutesMessages() async throws {
        let table = try load().table
        let sink = CollectingSink()
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let uuid = UUID().uuidString.lowercased()
        let message = Message(body: ConfigFixtures.g2g(uuid: uuid), headers: ["x-source": "portal"], source: "portal")
        let disposition = await engine.process(message)
        XCTAssertEqual(disposition, .completed)
        let byEndpoint = Dictionary(grouping: sink.deliveries, by: \.0).mapValues { $0.map(\.1) }
        XCTAssertEqual(byEndpoint.keys.sorted(), ["archiv", "audit", "eakte"])
        let eakte = try XCTUnwrap(byEndpoint["eakte"]?.first)
        XCTAssertEqual(eakte.headers["x-az"], "BP-7")
        XCTAssertEqual(eakte.headers["x-id"], uuid)
        XCTAssertEqual(eakte.headers["x-stempel"], "geprueft")
        let document = try XMLDocument(parsing: eakte.body)
        XCTAssertEqual(document.rootName, "gemappt")
        XCTAssertEqual(try document.evaluate("string(/*/@ort)").stringValue, "Itzehoe 0401")

        // Content-based routing of 0403.
        for (reader, expected) in [
            ("ags:01061017", ["breitenburg"]), ("ags:01061034", ["eakte", "heiligenstedten"]),
            ("ags:01061056", ["clearing"]),
        ] {
            let before = sink.deliveries.count
            let result = await engine.process(
                Message(body: ConfigFixtures.g2g(type: "0403", reader: reader), source: "portal"))
            XCTAssertEqual(result, .completed)
            XCTAssertEqual(sink.deliveries.dropFirst(before).map(\.0).sorted(), expected, reader)
        }
    }

    func testTheRealXBeteiligungMessageTakesTheXPathRoute() async throws {
        let table = try load().table
        let sink = CollectingSink()
        let engine = RoutingEngine(
            table: table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let path = ConfigFixtures.shared + "/xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"
        let body = try XCTUnwrap(FileManager.default.contents(atPath: path), "set STADTBUS_SHARED")
        // Not from the test author's authority and no x-source header: route `antrag` does not match.
        let result = await engine.process(Message(body: Array(body), source: "portal"))
        XCTAssertEqual(result, .completed)
        XCTAssertEqual(sink.deliveries.map(\.0), ["eakte"])
        XCTAssertEqual(sink.deliveries.first?.1.route, "beteiligung")
    }

    func testMappingRulesGoThroughTheHook() throws {
        var loader = ConfigFixtures.loader()
        loader.mappingRules = FakeMappingCompiler()
        let loaded = try loader.load(path: ConfigFixtures.path("broken/mapping-rules-invalid.yaml"))
        XCTAssertEqual(loaded.table.route(named: "r")?.steps.first?.label, "map ../support/rules.yaml")
    }

    func testTheExampleConfigurationLoads() throws {
        // The example names files that only exist after set-up (dev certificates, tokens, the
        // invoice folder): the installation helper gives it stand-ins in a temporary directory.
        let (directory, environment) = try ConfigFixtures.exampleInstallation()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let loaded = try ConfigFixtures.loader(environment).load(
            path: ConfigFixtures.packageRoot + "/config/itzehoe.yaml")
        XCTAssertEqual(loaded.settings.identity?.kennung, "ags:01061046")
        XCTAssertEqual(
            loaded.table.routes.map(\.name),
            [
                "beteiligung-initiieren", "beteiligung-aktualisieren", "kreis-weiterleitung", "eakte-quittung",
                "rechnung-eingang", "rechnung-zur-akte", "zahlung-bestaetigt", "zahlung-an-eakte", "xwasser-eingang",
                "nachbar-uebergabe", "von-nachbarn",
            ])
        XCTAssertEqual(loaded.settings.broker?.password, .environment("STADTBUS_BROKER_PASSWORD"))
        XCTAssertEqual(loaded.settings.brokers["breitenburg"]?.password, .environment("STADTBUS_PEER_PASSWORD"))
        XCTAssertEqual(loaded.settings.addressDirectory.entry(for: "ags:01061017")?.endpoint, "nachbar.breitenburg")
        XCTAssertEqual(
            Set(loaded.settings.endpoints.values.map(\.type)), ["amqp", "file", "http-in", "http-out"],
            "the example uses every generic adapter but exec")
    }
}
