import ArgumentParser
import Foundation
import StadtbusCore
import StadtbusStore

/// `stadtbus trace [--store PATH] UUID`: prints a message's audit trail, oldest first.
///
/// Opens the store read-only, so it is safe to run beside a running Stadtbus.
/// Exit status: 0 with the trail printed; 1 if the store has no events for the message
/// (never seen, or purged after the retention); 2 if the store cannot be read.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show a message's audit trail (metadata only, never the body).",
        discussion: """
            Prints every recorded event of the message, oldest first: time (UTC), route, kind, \
            detail (step or destination), duration in milliseconds, attempt and reason. \
            The store is opened read-only, so this is safe beside a running Stadtbus.

            Exit status: 0 found, 1 no events for the message, 2 the store cannot be read.
            """)

    /// Where Stadtbus keeps its store unless configured otherwise.
    static let defaultStorePath = "/var/lib/stadtbus/store.sqlite"

    @Option(name: .long, help: ArgumentHelp("The store file.", valueName: "path"))
    var store: String = TraceCommand.defaultStorePath

    @Argument(help: ArgumentHelp("The message's UUID (nachrichtenUUID).", valueName: "uuid"))
    var messageID: String

    func run() throws {
        let id = messageID.trimmingCharacters(in: .whitespacesAndNewlines)
        let events: [AuditEvent]
        do {
            let opened = try SQLiteStore(path: store, configuration: .readingOnly)
            defer { opened.close() }
            events = try opened.audit.trail(of: id)
        } catch let error as StoreError {
            printError("stadtbus trace: \(error)")
            throw ExitCode(2)
        }
        guard !events.isEmpty else {
            var message = "stadtbus trace: no audit events for message \(id) in \(store)"
            if UUID(uuidString: id) == nil {
                message += " ('\(id)' is not a UUID; check for a typo)"
            } else {
                message += " (never received, or purged after the retention period)"
            }
            printError(message)
            throw ExitCode.failure
        }
        print(AuditTrailTable.render(events), terminator: "")
    }

    private func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
