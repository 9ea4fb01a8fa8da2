import Foundation
import Logging
import StadtbusCore
import Synchronization

/// Delivers outgoing messages to `exec` endpoints: each message is sent to the endpoint's
/// program as a `deliver` frame, and the program's `result` decides:
///
/// | result  | outcome                                                        |
/// |---------|----------------------------------------------------------------|
/// | `ok`    | delivered (the program holds the message durably)              |
/// | `retry` | transient ``DeliveryError`` (code from the frame, else `exec-retry`) |
/// | `fail`  | permanent ``DeliveryError`` with the program's reason (dead letter) |
/// | none within `timeout` | transient `timeout`; the program is restarted     |
/// | program ended | transient `exec-crashed`; restarted with backoff          |
///
/// One program per endpoint, started on the first delivery and kept running.
final class ExecSink: MessageSink, Sendable {
    private let logger: Logger
    /// The running program of each endpoint.
    private let programs = Mutex<[String: ExecProgram]>([:])

    init(logger: Logger) {
        self.logger = logger
    }

    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        let program = try program(for: endpoint)
        let header = FrameHeader(
            type: "deliver", seq: nil, messageID: message.messageID, route: message.route, endpoint: endpoint.name,
            contentType: message.properties.contentType ?? "application/xml", headers: message.headers)
        let answer = try await program.request(Frame(header, body: message.body))
        try Self.check(answer, endpoint: endpoint.name)
    }

    /// Turns a `result` frame into success or a classified ``DeliveryError``.
    static func check(_ answer: Frame, endpoint: String) throws {
        let reason = answer.header.reason.map { $0.isEmpty ? nil : $0 } ?? nil
        switch answer.header.status {
        case "ok":
            return
        case "retry":
            let code = answer.header.code.flatMap { $0.isEmpty ? nil : $0 } ?? "exec-retry"
            throw DeliveryError.transient(code, "\(endpoint): \(reason ?? "the program asked to retry later")")
        case "fail":
            let code = answer.header.code.flatMap { $0.isEmpty ? nil : $0 } ?? "exec-failed"
            throw DeliveryError.permanent(code, "\(endpoint): \(reason ?? "the program refused the message")")
        default:
            // An answer Stadtbus cannot interpret: treat as transient, the message is kept.
            throw DeliveryError.transient(
                "exec-protocol", "\(endpoint): result with unknown status '\(answer.header.status ?? "(none)")'")
        }
    }

    /// The endpoint's program; a reload that changed the endpoint's settings replaces it.
    func program(for endpoint: Endpoint) throws -> ExecProgram {
        let settings: ExecSettings
        do {
            settings = try ExecSettings(endpoint: endpoint)
        } catch {
            throw DeliveryError.permanent("configuration", "\(error)")
        }
        let (program, replaced): (ExecProgram, ExecProgram?) = programs.withLock { programs in
            if let existing = programs[endpoint.name], existing.settings == settings { return (existing, nil) }
            let program = ExecProgram(endpoint: endpoint.name, settings: settings, logger: logger)
            let old = programs.updateValue(program, forKey: endpoint.name)
            return (program, old)
        }
        if let replaced { Task { await replaced.shutdown() } }
        return program
    }

    /// Stops every program (stdin closed, SIGTERM, SIGKILL).
    func shutdown() async {
        let all = programs.withLock { programs in
            defer { programs = [:] }
            return Array(programs.values)
        }
        for program in all { await program.shutdown() }
    }
}
