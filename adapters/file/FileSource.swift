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
/// failure leaves it in place and retries it after the route's backoff.
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
            try? FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        context.logger.info("watching folder", metadata: ["endpoint": "\(endpoint.name)", "directory": "\(directory.path)"])
        while !lock.withLock({ stopped }) {
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
            guard !name.hasPrefix("."), !name.hasSuffix(".tmp"), !name.hasSuffix(".part"), fnmatch(pattern, name, 0) == 0 else {
                return nil
            }
            let url = directory.appendingPathComponent(name)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                attributes[.type] as? FileAttributeType == .typeRegular,
                let modified = attributes[.modificationDate] as? Date, now.timeIntervalSince(modified) >= settle
            else { return nil }
            if let retry = lock.withLock({ retries[name] }), retry.due > now { return nil }
            return url
        }
    }

    private func process(_ file: URL) async {
        let name = file.lastPathComponent
        guard let body = FileManager.default.contents(atPath: file.path) else { return }
        let attempt = lock.withLock { retries[name]?.attempt } ?? 1
        context.inFlight.add(1, metrics: context.metrics)
        defer { context.inFlight.add(-1, metrics: context.metrics) }
        let message = Message(
            body: Array(body), headers: ["x-stadtbus-file": name], properties: MessageProperties(contentType: "application/xml"),
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
            let note = "route: \(route)\nstep: \(step)\nreason: \(reason)\nattempt: \(attempt)\nat: \(Date().formatted(.iso8601))\n"
            try? note.write(
                to: directory.appendingPathComponent("failed").appendingPathComponent(name + ".reason.txt"), atomically: true,
                encoding: .utf8)
            move(file, to: "failed")
            lock.withLock { _ = retries.removeValue(forKey: name) }
            log.warning("dead-lettered to failed/", metadata: ["step": "\(step)", "reason": "\(reason)"])
        }
        result.settled()
    }

    private func move(_ file: URL, to folder: String) {
        let target = directory.appendingPathComponent(folder).appendingPathComponent(file.lastPathComponent)
        if moveAtomically(file.path, target.path) != 0 {
            context.logger.error("cannot move file", metadata: ["file": "\(file.path)", "to": "\(target.path)", "error": "\(String(cString: strerror(errno)))"])
        }
    }
}

/// `rename(2)`: atomic within one file system (done/ and failed/ are inside the folder).
private func moveAtomically(_ from: String, _ to: String) -> Int32 { rename(from, to) }
