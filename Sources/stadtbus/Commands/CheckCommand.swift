import ArgumentParser
import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusStandard

/// `stadtbus check --config FILE`: loads the configuration exactly as the service would
/// (includes, references, schemas and stylesheets compiled) and reports every error.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a configuration: print every error as file:line:column, or a summary when it is valid.")

    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    func run() throws {
        let loaded: LoadedConfiguration
        do {
            loaded = try StandardLoader.make().load(path: config)
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics {
                FileHandle.standardError.write(Data((diagnostic.description + "\n").utf8))
            }
            let count = error.diagnostics.count
            FileHandle.standardError.write(Data("\(count) error\(count == 1 ? "" : "s") in \(config)\n".utf8))
            throw ExitCode(1)
        }
        // Deprecated settings load, but say what to change (on stderr, like errors; the exit code stays 0).
        for warning in loaded.settings.warnings {
            FileHandle.standardError.write(Data("\(warning.position): warning: \(warning.message)\n".utf8))
        }
        print(Self.summary(of: loaded, path: config))
    }

    static func summary(of loaded: LoadedConfiguration, path: String) -> String {
        let settings = loaded.settings
        let table = loaded.table
        var lines = ["\(path): OK"]
        if let identity = settings.identity {
            lines.append("  identity:  \(identity.kennung)" + (identity.name.map { " (\($0))" } ?? ""))
        }
        lines.append("  files:     \(loaded.files.count)")
        let endpoints = settings.endpoints.values.sorted { $0.name < $1.name }.map { "\($0.name) (\($0.type))" }
        lines.append("  endpoints: \(endpoints.count) — " + endpoints.joined(separator: ", "))
        lines.append(
            "  schemas:   \(settings.schemas.count) — " + settings.schemas.keys.sorted().joined(separator: ", "))
        lines.append("  keys:      \(settings.keys.count) — " + settings.keys.keys.sorted().joined(separator: ", "))
        lines.append("  routes:    \(table.routes.count)")
        for route in table.routes {
            let destinations: String
            switch route.routing {
            case .to(let list): destinations = list.map(\.description).joined(separator: ", ")
            case .choice(let branches):
                destinations =
                    "choice of \(branches.count): "
                    + Set(branches.flatMap(\.destinations)).map(\.description).sorted().joined(separator: ", ")
            }
            let steps = route.steps.map(\.name).joined(separator: " → ")
            lines.append(
                "    \(route.name): \(route.source ?? "(route:\(route.name) only)") → [\(steps.isEmpty ? "no steps" : steps)] → \(destinations)"
            )
        }
        return lines.joined(separator: "\n")
    }
}
