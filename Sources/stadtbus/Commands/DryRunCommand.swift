import ArgumentParser
import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusStandard

/// `stadtbus dry-run --config FILE --route NAME --message FILE.xml`: runs one route offline
/// (no broker, nothing delivered, in-memory stores) and shows what each step did.
struct DryRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dry-run",
        abstract: "Run a route offline on a message and show each step's result and what would be delivered where.")

    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "The route to run (its 'when' is evaluated and reported).")
    var route: String

    @Option(name: .long, help: "The message (an XML file).")
    var message: String

    @Option(name: .long, help: "Show at most this many lines of each document (0 = none).")
    var lines: Int = 15

    @Flag(name: .long, help: "Show documents in full.")
    var full = false

    @Option(name: .customLong("header"), help: "A transport header NAME=VALUE (repeatable).")
    var headers: [String] = []

    func run() async throws {
        let output = await DryRun.run(
            config: config, route: route, messagePath: message, headers: headers, maxLines: full ? Int.max : lines,
            loader: StandardLoader.make())
        print(output.text, terminator: "")
        if case .deadLetter = output.disposition { throw ExitCode(2) }
    }
}
