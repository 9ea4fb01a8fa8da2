import Foundation
import StadtbusAMQP
import StadtbusCore
import StadtbusStore
import XCTest

/// The known set of messages of one scenario and what must become of each: the exact
/// accounting the reliability suite checks (issue 8).
///
/// * every valid UUID delivered downstream exactly once (count = N, duplicates = 0),
/// * dead letters = exactly the messages designed to fail, each with its step and reason,
/// * the audit trail accounts for every UUID: a valid one was delivered (or, after a crash
///   between delivery and journal, acked as duplicate of a recorded delivery), a failing one
///   was dead-lettered at the expected step.
struct Ledger {
    /// Why a message designed to fail must be dead-lettered.
    struct ExpectedFailure {
        /// `x-stadtbus-error-step`, e.g. `parse`, `route`, `verify`.
        let step: String
        /// The start of `x-stadtbus-error-reason`, e.g. `unparseable: `, `bad-digest: `.
        let reasonPrefix: String
        /// A fragment the reason must contain (empty: none).
        var reasonContains = ""
    }

    let scenario: String
    private(set) var valid: [String] = []
    private(set) var failing: [String: ExpectedFailure] = [:]
    let started = Date()

    init(scenario: String) {
        self.scenario = scenario
    }

    mutating func expectDelivery(_ uuid: String) { valid.append(uuid) }

    mutating func expectDeadLetter(_ uuid: String, _ failure: ExpectedFailure) { failing[uuid] = failure }

    var total: Int { valid.count + failing.count }

    /// Checks the downstream deliveries (`downstream`: one UUID per delivery) and the dead
    /// letters, asserts the exact counts and returns the figures. `duplicatesReported`
    /// overrides the duplicate count (a receiver that counts them itself).
    ///
    /// - Parameter inFlightAtFault: how many duplicates the fault may cause at most: 0 where the
    ///   design rules them out; for a broker that goes away or a killed Stadtbus, the messages in
    ///   flight at that moment (one per worker), because an AMQP publish whose confirm is lost
    ///   is sent again (at-least-once) and a kill between delivery and idempotency record
    ///   delivers again (design note). The figure line always shows the measured number.
    func check(
        downstream: [String], deadLetters: [(uuid: String, headers: [String: AMQPHeaderValue])],
        inFlightAtFault: Int = 0, file: StaticString = #filePath, line: UInt = #line
    ) -> ScenarioFigures {
        let counts = Dictionary(downstream.map { ($0, 1) }, uniquingKeysWith: +)
        let duplicates = downstream.count - counts.count
        let expected = Set(valid)
        let missing = expected.subtracting(counts.keys)
        let unexpected = Set(counts.keys).subtracting(expected)
        XCTAssertEqual(
            counts.count, valid.count, "\(scenario): count delivered = N (missing \(missing.prefix(5)))", file: file,
            line: line)
        XCTAssertLessThanOrEqual(
            duplicates, inFlightAtFault,
            "\(scenario): duplicates downstream (more than the messages in flight at the fault)",
            file: file, line: line)
        XCTAssertTrue(
            unexpected.isEmpty, "\(scenario): delivered but not expected: \(unexpected.prefix(5))", file: file,
            line: line)

        let deadIDs = deadLetters.map(\.uuid)
        XCTAssertEqual(
            deadIDs.sorted(), failing.keys.sorted(), "\(scenario): dead letters = the messages designed to fail",
            file: file, line: line)
        for letter in deadLetters {
            guard let want = failing[letter.uuid] else { continue }
            let step = letter.headers["x-stadtbus-error-step"]?.stringValue ?? ""
            let reason = letter.headers["x-stadtbus-error-reason"]?.stringValue ?? ""
            XCTAssertEqual(step, want.step, "\(scenario): step of \(letter.uuid) (\(reason))", file: file, line: line)
            XCTAssertTrue(
                reason.hasPrefix(want.reasonPrefix), "\(scenario): reason of \(letter.uuid): \(reason)", file: file,
                line: line)
            if !want.reasonContains.isEmpty {
                XCTAssertTrue(
                    reason.contains(want.reasonContains), "\(scenario): reason of \(letter.uuid): \(reason)",
                    file: file, line: line)
            }
        }
        return ScenarioFigures(
            scenario: scenario, sent: total, delivered: counts.keys.filter(expected.contains).count,
            duplicates: duplicates,
            deadLetters: deadLetters.count, seconds: Date().timeIntervalSince(started))
    }

    /// Reads the audit journal (read-only, through StadtbusStore) and checks that it accounts
    /// for every UUID of the scenario.
    func checkAuditTrail(store path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let store = try SQLiteStore(path: path, configuration: .readingOnly)
        defer { store.close() }
        var unaccounted: [String] = []
        for uuid in valid {
            let kinds = Set(try store.audit.trail(of: uuid).map(\.kind))
            // A crash after the idempotency record but before the journal write leaves only the
            // redelivery's `duplicate`; a delivery without its record would show up downstream.
            if !(kinds.contains(.delivered) || kinds.contains(.duplicate)) || kinds.contains(.deadLettered) {
                unaccounted.append("\(uuid): \(kinds.map(\.rawValue).sorted())")
            }
        }
        for (uuid, failure) in failing {
            let trail = try store.audit.trail(of: uuid)
            let dead = trail.filter { $0.kind == .deadLettered }
            if dead.count != 1 || dead.first?.detail != failure.step || trail.contains(where: { $0.kind == .delivered })
            {
                unaccounted.append("\(uuid): \(trail.map { "\($0.kind.rawValue)[\($0.detail ?? "")]" })")
            }
        }
        XCTAssertEqual(
            unaccounted, [], "\(scenario): the audit trail must account for every UUID", file: file, line: line)
    }
}
