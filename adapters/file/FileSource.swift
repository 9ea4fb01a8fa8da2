import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore

/// Picks up messages from a `file` endpoint's directory (a records system's export folder).
///
/// Only complete files are taken: names matching `pattern` (default `*.xml`), not hidden, not
/// `*.tmp`/`*.part`, and unchanged for `settle` (default 1 s), so a file still being written
/// is left alone. After processing a file is moved to `done/` (delivered, duplicate or
/// filtered) or to `failed/` together with `<name>.reason.txt` (dead letter). A transient
/// failure leaves it in place and retries it after the route's backoff. An entry that is not a
/// regular file when it is opened — a symbolic link (never followed), a FIFO, a directory
/// swapped in after the listing — is not read: it goes to `failed/` with the reason
/// (``InboxFile``).
///
/// `done/` and `failed/` are created when missing (also when someone removed them while
/// Stadtbus runs). A file whose outcome is settled but that cannot be moved (permissions, a
/// full disk) is not processed again — that would deliver or dead-letter it once per poll —
/// but only moved again on later polls, with an error logged once.
final class FileSource: MessageSource, @unchecked Sendable {
    let endpoint: Endpoint
    private let directory: URL
    private let pattern: String
    private let poll: Duration
    private let settle: TimeInterval = 1
    private let context: AdapterContext
    private let lock = NSLock()
    private var stopped = false
    /// Files waiting for a retry: the next attempt number and when it is due.
    private var retries: [String: (attempt: Int, due: Date)] = [:]
    /// Files whose outcome is settled but that could not be moved yet: name → `done` or `failed`.
    private var unmoved: [String: String] = [:]

    init?(endpoint: Endpoint, context: AdapterContext) {
        guard let directory = endpoint.settings["directory"]?.string else { return nil }
        self.endpoint = endpoint
        self.directory = URL(fileURLWithPath: directory)
        pattern = endpoint.settings["pattern"]?.string ?? "*.xml"
        poll = endpoint.settings["poll"]?.duration ?? .seconds(1)
        self.context = context
    }

    /// Polls until ``stop()``; the file being processed is finished first.
    func run() async throws {
        context.readiness.satisfy("consumer:\(endpoint.name)")
        for sub in ["done", "failed"] {
            try? FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        context.logger.info(
            "watching folder", metadata: ["endpoint": "\(endpoint.name)", "directory": "\(directory.path)"])
        while !lock.withLock({ stopped }) {
            moveUnmoved()
            for file in readyFiles() {
                if lock.withLock({ stopped }) { break }
                await process(file)
            }
            try? await Task.sleep(for: poll)
        }
    }

    func stop() async {
        lock.withLock { stopped = true }
    }

    /// Complete, due files in name order.
    func readyFiles() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let now = Date()
        return names.sorted().compactMap { name -> URL? in
            guard !name.hasPrefix("."), !name.hasSuffix(".tmp"), !name.hasSuffix(".part"),
                fnmatch(pattern, name, 0) == 0
            else {
                return nil
            }
            let url = directory.appendingPathComponent(name)
            // lstat: a symbolic link is listed too, to be refused on opening (see InboxFile).
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                [.typeRegular, .typeSymbolicLink].contains(attributes[.type] as? FileAttributeType),
                let modified = attributes[.modificationDate] as? Date, now.timeIntervalSince(modified) >= settle
            else { return nil }
            let (retry, settled) = lock.withLock { (retries[name], unmoved[name] != nil) }
            if settled { return nil }
            if let retry, retry.due > now { return nil }
            return url
        }
    }

    private func process(_ file: URL) async {
        let name = file.lastPathComponent
        let body: [UInt8]
        switch InboxFile.read(file.path) {
        case .content(let content): body = content
        case .unavailable: return  // gone, or not readable now: a later poll tries again
        case .refused(let reason): return refuse(file, reason: reason)
        }
        let attempt = lock.withLock { retries[name]?.attempt } ?? 1
        context.inFlight.add(1, metrics: context.metrics)
        defer { context.inFlight.add(-1, metrics: context.metrics) }
        let message = Message(
            body: body, headers: ["x-stadtbus-file": name],
            properties: MessageProperties(contentType: "application/xml"),
            source: endpoint.name, attempt: attempt)
        let result = await context.intake.process(message)
        let route = result.routeLabel
        var log = result.logger
        log[metadataKey: "file"] = "\(name)"
        switch result.disposition {
        case .completed, .duplicate, .filtered:
            move(file, to: "done")
            lock.withLock { _ = retries.removeValue(forKey: name) }
        case .retry(let next, let delay, let reason, _):
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            lock.withLock { retries[name] = (next, Date().addingTimeInterval(seconds)) }
            log.notice("retry scheduled", metadata: ["attempt": "\(next)", "reason": "\(reason)"])
        case .deadLetter(let reason, let step, _, _):
            let note =
                "route: \(route)\nstep: \(step)\nreason: \(reason)\nattempt: \(attempt)\nat: \(Date().formatted(.iso8601))\n"
            try? FileManager.default.createDirectory(
                at: directory.appendingPathComponent("failed"), withIntermediateDirectories: true)
            try? note.write(
                to: directory.appendingPathComponent("failed").appendingPathComponent(name + ".reason.txt"),
                atomically: true,
                encoding: .utf8)
            move(file, to: "failed")
            lock.withLock { _ = retries.removeValue(forKey: name) }
            log.warning("dead-lettered to failed/", metadata: ["step": "\(step)", "reason": "\(reason)"])
        }
        result.settled()
    }

    /// Sets aside an entry that is not a regular file (a symbolic link, a FIFO, …) without
    /// reading it: into `failed/` with `<name>.reason.txt`. It never reaches a route.
    private func refuse(_ file: URL, reason: String) {
        let name = file.lastPathComponent
        let note = "refused: \(reason)\nat: \(Date().formatted(.iso8601))\n"
        try? FileManager.default.createDirectory(
            at: directory.appendingPathComponent("failed"), withIntermediateDirectories: true)
        try? note.write(
            to: directory.appendingPathComponent("failed").appendingPathComponent(name + ".reason.txt"),
            atomically: true,
            encoding: .utf8)
        context.metrics.countAdapterError(adapter: "file")
        context.logger.warning(
            "file refused, not read; moved to failed/",
            metadata: ["endpoint": "\(endpoint.name)", "file": "\(name)", "reason": "\(reason)"])
        move(file, to: "failed")  // rename(2) moves the link itself, not what it points to
        lock.withLock { _ = retries.removeValue(forKey: name) }
    }

    /// Moves a processed file into `folder` (`done` or `failed`). If that fails the file is
    /// remembered as settled, so that it is moved on a later poll instead of being processed again.
    private func move(_ file: URL, to folder: String) {
        let name = file.lastPathComponent
        let error = rename(file, into: folder)
        guard error != 0 else { return }
        lock.withLock { unmoved[name] = folder }
        context.metrics.countAdapterError(adapter: "file")
        context.logger.error(
            "cannot move processed file; it will not be processed again, only moved once possible",
            metadata: [
                "file": "\(file.path)", "to": "\(folder)/", "error": "\(String(cString: strerror(error)))",
            ])
    }

    /// Retries the moves that failed earlier (see ``move(_:to:)``).
    private func moveUnmoved() {
        for (name, folder) in lock.withLock({ unmoved }) {
            let file = directory.appendingPathComponent(name)
            let gone = !FileManager.default.fileExists(atPath: file.path)  // someone else took it
            guard gone || rename(file, into: folder) == 0 else { continue }
            lock.withLock { _ = unmoved.removeValue(forKey: name) }
            if !gone {
                context.logger.notice("moved processed file", metadata: ["file": "\(name)", "to": "\(folder)/"])
            }
        }
    }

    /// `rename(2)` of `file` into the subfolder `folder`, created first if it is missing.
    /// Returns 0 or the `errno` of the failure.
    private func rename(_ file: URL, into folder: String) -> Int32 {
        let subfolder = directory.appendingPathComponent(folder)
        let target = subfolder.appendingPathComponent(file.lastPathComponent)
        if moveAtomically(file.path, target.path) == 0 { return 0 }
        guard errno == ENOENT, FileManager.default.fileExists(atPath: file.path) else { return errno }
        try? FileManager.default.createDirectory(at: subfolder, withIntermediateDirectories: true)
        return moveAtomically(file.path, target.path) == 0 ? 0 : errno
    }
}

/// `rename(2)`: atomic within one file system (done/ and failed/ are inside the folder).
private func moveAtomically(_ from: String, _ to: String) -> Int32 { rename(from, to) }
