// stadtbus-store-bench: how many idempotency checks/records and audit events per second
// the SQLite store takes on this machine's disk.
//
//   swift run -c release stadtbus-store-bench [--messages N] [--threads T] [--dir PATH] [--keep]
//
// Prints one line per scenario; asserts nothing. The store file goes to a new temporary
// directory (or --dir) and is removed afterwards unless --keep.
import Dispatch
import Foundation
import StadtbusCore
import StadtbusStore

struct Options {
    var messages = 2_000
    var threads = 4
    var directory: String?
    var keep = false

    init(arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--messages": messages = iterator.next().flatMap(Int.init) ?? messages
            case "--threads": threads = iterator.next().flatMap(Int.init) ?? threads
            case "--dir": directory = iterator.next()
            case "--keep": keep = true
            default:
                FileHandle.standardError.write(
                    Data("usage: stadtbus-store-bench [--messages N] [--threads T] [--dir PATH] [--keep]\n".utf8))
                exit(64)
            }
        }
    }
}

/// Runs `body` and prints `count / seconds` as a rate.
func measure(_ name: String, count: Int, unit: String, _ body: () throws -> Void) rethrows {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(count) / seconds
    let perOp = seconds / Double(count) * 1e6
    print(
        name.padding(toLength: 58, withPad: " ", startingAt: 0)
            + String(format: "%10.0f %@/s  %9.1f µs each  (%d in %.2f s)", rate, unit, perOp, count, seconds))
}

/// The events of one message's uneventful life, as the engine records them.
func lifeEvents(of id: String, at date: Date) -> [AuditEvent] {
    let header = (type: "meldewesen.0201", author: "ags:09162000", reader: "ags:09184119")
    return [
        AuditEvent(
            messageID: id, route: "meldewesen", kind: .received, at: date, messageType: header.type,
            author: header.author, reader: header.reader, attempt: 1),
        AuditEvent(messageID: id, route: "meldewesen", kind: .matched, at: date, attempt: 1),
        AuditEvent(
            messageID: id, route: "meldewesen", kind: .step, at: date, detail: "validate", durationMicroseconds: 850,
            attempt: 1),
        AuditEvent(
            messageID: id, route: "meldewesen", kind: .step, at: date, detail: "map", durationMicroseconds: 420,
            attempt: 1),
        AuditEvent(
            messageID: id, route: "meldewesen", kind: .step, at: date, detail: "sign", durationMicroseconds: 2_100,
            attempt: 1),
        AuditEvent(messageID: id, route: "meldewesen", kind: .delivered, at: date, detail: "amqp:out", attempt: 1),
    ]
}

func run(_ options: Options) throws {
    let directory =
        options.directory
        ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("stadtbus-store-bench-\(getpid())")
    let path = (directory as NSString).appendingPathComponent("store.sqlite")
    defer {
        if !options.keep { try? FileManager.default.removeItem(atPath: directory) }
    }
    let n = options.messages
    let threads = max(1, options.threads)
    let now = Date()
    print("store \(path), \(n) messages, \(threads) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores")

    let store = try SQLiteStore(path: path)
    let idempotency = store.idempotency
    let audit = store.audit

    try measure("idempotency: check + record (FULL), 1 thread", count: n, unit: "msg") {
        for i in 0..<n {
            let id = UUID().uuidString
            if try !idempotency.wasDelivered(route: "meldewesen", messageID: id, destination: "amqp:out") {
                try idempotency.recordDelivered(route: "meldewesen", messageID: id, destination: "amqp:out", at: now)
            }
            _ = i
        }
    }

    let failures = ErrorCollector()
    measure("idempotency: check + record (FULL), \(threads) threads", count: n, unit: "msg") {
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for _ in stride(from: thread, to: n, by: threads) {
                do {
                    let id = UUID().uuidString
                    if try !idempotency.wasDelivered(route: "meldewesen", messageID: id, destination: "amqp:out") {
                        try idempotency.recordDelivered(
                            route: "meldewesen", messageID: id, destination: "amqp:out", at: now)
                    }
                } catch {
                    failures.add(error)
                }
            }
        }
    }

    let lookups = n * 50
    try measure("idempotency: check only (miss), 1 thread", count: lookups, unit: "check") {
        for i in 0..<lookups {
            _ = try idempotency.wasDelivered(route: "meldewesen", messageID: "absent-\(i)", destination: "amqp:out")
        }
    }

    try measure("audit: 1 event per call (NORMAL), 1 thread", count: n, unit: "event") {
        for _ in 0..<n {
            try audit.record(AuditEvent(messageID: UUID().uuidString, route: "meldewesen", kind: .received, at: now))
        }
    }

    var sampleID = ""
    try measure("audit: 6 events per call (NORMAL), 1 thread", count: n * 6, unit: "event") {
        for _ in 0..<n {
            let id = UUID().uuidString
            sampleID = id
            try audit.record(lifeEvents(of: id, at: now))
        }
    }

    measure("audit: 6 events per call (NORMAL), \(threads) threads", count: n * 6, unit: "event") {
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for _ in stride(from: thread, to: n, by: threads) {
                do {
                    try audit.record(lifeEvents(of: UUID().uuidString, at: now))
                } catch {
                    failures.add(error)
                }
            }
        }
    }

    try measure("audit: trail lookup (6 events), 1 thread", count: n * 10, unit: "trail") {
        for _ in 0..<(n * 10) {
            _ = try audit.trail(of: sampleID)
        }
    }

    try measure("engine mix: check + record + 6 events, 1 thread", count: n, unit: "msg") {
        for _ in 0..<n {
            let id = UUID().uuidString
            if try !idempotency.wasDelivered(route: "meldewesen", messageID: id, destination: "amqp:out") {
                try idempotency.recordDelivered(route: "meldewesen", messageID: id, destination: "amqp:out", at: now)
                try audit.record(lifeEvents(of: id, at: now))
            }
        }
    }
    store.close()

    let fullPath = (directory as NSString).appendingPathComponent("store-full.sqlite")
    let fullStore = try SQLiteStore(path: fullPath, configuration: .init(auditDurability: .full))
    try measure("audit: 6 events per call (FULL), 1 thread", count: n * 6, unit: "event") {
        for _ in 0..<n {
            try fullStore.audit.record(lifeEvents(of: UUID().uuidString, at: now))
        }
    }

    try measure("purge: all rows of the first store", count: 1, unit: "purge") {
        let reopened = try SQLiteStore(path: path)
        let result = try reopened.purgeExpired(retention: 0, now: now.addingTimeInterval(1))
        print("  purged \(result.deliveries) deliveries, \(result.auditEvents) audit events")
    }
    if let error = failures.first {
        throw error
    }
    if options.keep { print("kept \(directory)") }
}

/// Collects errors from concurrent workers.
final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []

    func add(_ error: any Error) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }

    var first: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return errors.first
    }
}

do {
    try run(Options(arguments: Array(CommandLine.arguments.dropFirst())))
} catch {
    FileHandle.standardError.write(Data("stadtbus-store-bench: \(error)\n".utf8))
    exit(1)
}
