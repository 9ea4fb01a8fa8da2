import Logging
import StadtbusConcurrency
import Synchronization

/// What happened in a runtime under test, in order: its log lines and what the test adapters
/// record, so a test can assert the order of a shutdown.
final class EventLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private struct State {
        var entries: [Entry] = []
        /// Tasks waiting for an entry that matches.
        var waiters: [(matches: @Sendable (Entry) -> Bool, promise: AsyncPromise<Entry>)] = []
    }

    private let state = Mutex(State())

    func append(_ entry: Entry) {
        let resumed = state.withLock { state in
            state.entries.append(entry)
            let matching = state.waiters.filter { $0.matches(entry) }
            state.waiters.removeAll { $0.matches(entry) }
            return matching.map(\.promise)
        }
        for promise in resumed { promise.fulfil(entry) }
    }

    /// The first entry whose message starts with `prefix` and whose metadata contains
    /// `metadata`, waiting for it if there is none yet (not interrupted by cancellation: wrap
    /// it in ``bounded(_:_:_:)``).
    func first(_ prefix: String, metadata: [String: String] = [:]) async -> Entry {
        let matches: @Sendable (Entry) -> Bool = { Self.matches($0, prefix, metadata) }
        let promise = state.withLock { state in
            let promise = AsyncPromise<Entry>()
            if let entry = state.entries.first(where: matches) {
                promise.fulfil(entry)
            } else {
                state.waiters.append((matches, promise))
            }
            return promise
        }
        return await promise.waitIgnoringCancellation()
    }

    /// Records an event of a test adapter.
    func record(_ message: String, _ metadata: [String: String] = [:]) {
        append(Entry(level: .info, message: message, metadata: metadata))
    }

    var all: [Entry] { state.withLock { $0.entries } }

    /// The position of the first entry whose message starts with `prefix` (and whose metadata
    /// contains `metadata`), if any.
    func index(of prefix: String, metadata: [String: String] = [:]) -> Int? {
        all.firstIndex { Self.matches($0, prefix, metadata) }
    }

    private static func matches(_ entry: Entry, _ prefix: String, _ metadata: [String: String]) -> Bool {
        entry.message.hasPrefix(prefix) && metadata.allSatisfy { entry.metadata[$0.key] == $0.value }
    }

    func contains(_ prefix: String) -> Bool { index(of: prefix) != nil }

    /// The log, one line per entry, for failure messages.
    var text: String {
        all.map { entry in
            let metadata = entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return "\(entry.level) \(entry.message) \(metadata.joined(separator: " "))"
        }.joined(separator: "\n")
    }

    /// A logger writing into this log (and nowhere else).
    func logger(label: String = "stadtbus-test") -> Logger {
        Logger(label: label) { _ in Handler(log: self) }
    }

    private struct Handler: LogHandler {
        let log: EventLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            log.append(
                Entry(level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }))
        }
    }
}
