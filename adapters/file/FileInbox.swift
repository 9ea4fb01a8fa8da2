import Foundation
import Logging
import StadtbusCore
import StadtbusOperations
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A `file` endpoint's folder as the source sees it: which files are ready to be read, which
/// wait for a retry, and the moves into `done/` and `failed/` (with `<name>.reason.txt`).
///
/// `done/` and `failed/` are created when missing (also when someone removed them while
/// Stadtbus runs). A file whose outcome is settled but that cannot be moved (permissions, a
/// full disk) is not processed again — that would deliver or dead-letter it once per poll —
/// but only moved again on later polls (``moveUnmoved()``), with an error logged once.
final class FileInbox: Sendable {
    /// The folder being watched.
    let directory: URL
    private let pattern: String
    /// How long a file must be unchanged before it is taken (a writer may still be at it).
    private let settle: TimeInterval
    private let metrics: StadtbusMetrics
    private let logger: Logger

    private struct State {
        /// Files waiting for a retry: the next attempt number and when it is due.
        var retries: [String: (attempt: Int, due: Date)] = [:]
        /// Files whose outcome is settled but that could not be moved yet: name → `done` or `failed`.
        var unmoved: [String: String] = [:]
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - pattern: the `fnmatch(3)` pattern of the names taken (`*.xml`).
    ///   - settle: how long a file must be unchanged before it is taken.
    init(
        directory: URL, pattern: String, settle: TimeInterval = 1, metrics: StadtbusMetrics, logger: Logger
    ) {
        self.directory = directory
        self.pattern = pattern
        self.settle = settle
        self.metrics = metrics
        self.logger = logger
    }

    /// Creates `done/` and `failed/` if they are missing.
    func createSubfolders() {
        for sub in ["done", "failed"] {
            try? FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    /// Complete, due files in name order: matching the pattern, not hidden, not `*.tmp`/`*.part`,
    /// unchanged for `settle`, not waiting for a retry and not settled already.
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
            let (retry, settled) = state.withLock { ($0.retries[name], $0.unmoved[name] != nil) }
            if settled { return nil }
            if let retry, retry.due > now { return nil }
            return url
        }
    }

    /// The attempt the next read of the file `name` is (1 unless a retry is scheduled).
    func attempt(of name: String) -> Int {
        state.withLock { $0.retries[name]?.attempt } ?? 1
    }

    /// When the file `name` is due again and as which attempt, if a retry is scheduled.
    func retry(of name: String) -> (attempt: Int, due: Date)? {
        state.withLock { $0.retries[name] }
    }

    /// Keeps the file `name` in place to be read again as `attempt` once `delay` has passed.
    func scheduleRetry(_ name: String, attempt: Int, after delay: Duration) {
        let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        let due = Date().addingTimeInterval(seconds)
        state.withLock { $0.retries[name] = (attempt, due) }
    }

    /// Writes `failed/<name>.reason.txt` (atomically), creating `failed/` if needed.
    /// - Throws: ``FileInboxError/reasonNotWritten(path:reason:)``.
    func writeReason(_ note: String, for name: String) throws(FileInboxError) {
        let failed = directory.appendingPathComponent("failed")
        let path = failed.appendingPathComponent(name + ".reason.txt")
        do {
            try FileManager.default.createDirectory(at: failed, withIntermediateDirectories: true)
            try note.write(to: path, atomically: true, encoding: .utf8)
        } catch {
            throw .reasonNotWritten(path: path.path, reason: "\(error)")
        }
    }

    /// Moves a processed file into `folder` (`done` or `failed`) and forgets its retry. If the
    /// move fails the file is remembered as settled, so that it is moved on a later poll
    /// (``moveUnmoved()``) instead of being processed again; the error is logged and counted once.
    func move(_ file: URL, to folder: String) {
        let name = file.lastPathComponent
        let error = rename(file, into: folder)
        state.withLock {
            $0.retries[name] = nil
            if error != 0 { $0.unmoved[name] = folder }
        }
        guard error != 0 else { return }
        metrics.countAdapterError(adapter: "file")
        logger.error(
            "cannot move processed file; it will not be processed again, only moved once possible",
            metadata: [
                "file": "\(file.path)", "to": "\(folder)/", "error": "\(String(cString: strerror(error)))",
            ])
    }

    /// Retries the moves that failed earlier (see ``move(_:to:)``).
    func moveUnmoved() {
        for (name, folder) in state.withLock({ $0.unmoved }) {
            let file = directory.appendingPathComponent(name)
            let gone = !FileManager.default.fileExists(atPath: file.path)  // someone else took it
            guard gone || rename(file, into: folder) == 0 else { continue }
            state.withLock { _ = $0.unmoved.removeValue(forKey: name) }
            if !gone {
                logger.notice("moved processed file", metadata: ["file": "\(name)", "to": "\(folder)/"])
            }
        }
    }

    /// Whether the file `name` is settled but still waits to be moved.
    func isUnmoved(_ name: String) -> Bool { state.withLock { $0.unmoved[name] != nil } }

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

/// Why a file could not be set aside.
enum FileInboxError: Error, CustomStringConvertible, Equatable {
    /// The dead letter's `<name>.reason.txt` could not be written; the file stays in the inbox
    /// and is read again on a later poll.
    case reasonNotWritten(path: String, reason: String)

    var description: String {
        switch self {
        case .reasonNotWritten(let path, let reason):
            return
                "cannot write the dead letter's reason to \(path) (\(reason)); the file stays in the folder "
                + "and is tried again: check that failed/ exists and is writable"
        }
    }
}

/// `rename(2)`: atomic within one file system (done/ and failed/ are inside the folder).
private func moveAtomically(_ from: String, _ to: String) -> Int32 { rename(from, to) }
