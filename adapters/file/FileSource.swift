import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import Synchronization

/// Picks up messages from a `file` endpoint's directory (a records system's export folder).
///
/// Only complete files are taken: names matching `pattern` (default `*.xml`), not hidden, not
/// `*.tmp`/`*.part`, and unchanged for `settle` (1 s), so a file still being written is left
/// alone (``FileInbox``). Each file runs through ``SourcePump``, which applies the ack rule, and
/// is settled by a ``FileSettlement``: moved to `done/` (delivered, duplicate or filtered), or
/// to `failed/` together with `<name>.reason.txt` (dead letter); a transient failure leaves it in
/// place and retries it after the route's backoff. An entry that is not a regular file when it
/// is opened — a symbolic link (never followed), a FIFO, a directory swapped in after the
/// listing — is not read: it goes to `failed/` with the reason (``InboxFile``).
final class FileSource: MessageSource, Sendable {
    let endpoint: Endpoint
    let inbox: FileInbox
    private let poll: Duration
    private let context: AdapterContext
    private let pump: SourcePump
    private let stopped = Mutex(false)

    init?(endpoint: Endpoint, context: AdapterContext) {
        guard let directory = endpoint.settings["directory"]?.string else { return nil }
        self.endpoint = endpoint
        var logger = context.logger
        logger[metadataKey: "endpoint"] = "\(endpoint.name)"
        inbox = FileInbox(
            directory: URL(fileURLWithPath: directory), pattern: endpoint.settings["pattern"]?.string ?? "*.xml",
            metrics: context.metrics, logger: logger)
        poll = endpoint.settings["poll"]?.duration ?? .seconds(1)
        self.context = context
        pump = SourcePump(
            engine: context.engine, metrics: context.metrics, inFlight: context.inFlight, logger: logger,
            adapter: "file")
    }

    /// Polls until ``stop()``; the file being processed is finished first.
    func run() async throws {
        context.readiness.satisfy("consumer:\(endpoint.name)")
        inbox.createSubfolders()
        context.logger.info(
            "watching folder", metadata: ["endpoint": "\(endpoint.name)", "directory": "\(inbox.directory.path)"])
        while !isStopped {
            inbox.moveUnmoved()
            for file in inbox.readyFiles() {
                if isStopped { break }
                await process(file)
            }
            try? await Task.sleep(for: poll)
        }
    }

    func stop() async {
        stopped.withLock { $0 = true }
    }

    private var isStopped: Bool { stopped.withLock { $0 } }

    private func process(_ file: URL) async {
        let name = file.lastPathComponent
        let body: [UInt8]
        switch InboxFile.read(file.path) {
        case .content(let content): body = content
        case .unavailable: return  // gone, or not readable now: a later poll tries again
        case .refused(let reason): return refuse(file, reason: reason)
        }
        let message = Message(
            body: body, headers: ["x-stadtbus-file": name],
            properties: MessageProperties(contentType: "application/xml"),
            source: endpoint.name, attempt: inbox.attempt(of: name))
        await pump.pump(message, settlement: FileSettlement(inbox: inbox, file: file), metadata: ["file": "\(name)"])
    }

    /// Sets aside an entry that is not a regular file (a symbolic link, a FIFO, …) without
    /// reading it: into `failed/` with `<name>.reason.txt`. It never reaches a route.
    private func refuse(_ file: URL, reason: String) {
        let name = file.lastPathComponent
        let note = "refused: \(reason)\nat: \(Date().formatted(.iso8601))\n"
        do {
            try inbox.writeReason(note, for: name)
        } catch {
            context.logger.error("\(error)", metadata: ["endpoint": "\(endpoint.name)", "file": "\(name)"])
        }
        context.metrics.countAdapterError(adapter: "file")
        context.logger.warning(
            "file refused, not read; moved to failed/",
            metadata: ["endpoint": "\(endpoint.name)", "file": "\(name)", "reason": "\(reason)"])
        inbox.move(file, to: "failed")  // rename(2) moves the link itself, not what it points to
    }
}
