import Foundation
import Logging
import StadtbusCore
import StadtbusXML

/// `exec-transform`: a route step that hands the current document to a program (framing v1,
/// a `deliver` frame) and replaces it with the body of the program's `ok` answer.
///
/// ```yaml
/// steps:
///   - exec-transform: {command: ../tools/anreichern.py, timeout: 5s}
/// ```
///
/// `ok` with a body → the body (parsed as XML) replaces the document; `ok` with an empty body
/// keeps it; `retry` → transient failure (code from the frame, else `exec-retry`); `fail` →
/// permanent failure (dead letter) with the reason; a body that is not XML → permanent
/// `exec-transform-invalid`. Timeouts and crashes are transient, as for the sink.
public struct ExecTransformStepFactory: StepFactory {
    private let programs: StepProgramList

    public init() {
        programs = StepProgramList()
    }

    init(programs: StepProgramList) {
        self.programs = programs
    }

    public var name: String { "exec-transform" }

    public var settingsSchema: SettingsSchema {
        SettingsSchema(ExecAdapter.settingFields)
    }

    public func makeStep(settings: [String: ConfigValue]) throws -> any RouteStep {
        let command = settings["command"]?.string ?? ""
        let endpoint = Endpoint(
            name: "exec-transform:\(URL(fileURLWithPath: command).lastPathComponent)", type: "exec", settings: settings)
        let parsed = try ExecSettings(endpoint: endpoint)
        try ExecError.checkExecutable(parsed.command, endpoint: endpoint.name)
        let program = ExecProgram(
            endpoint: endpoint.name, settings: parsed, logger: Logger(label: "stadtbus.exec-transform"))
        programs.add(program)
        return ExecTransformStep(program: program, command: command)
    }
}

/// The compiled `exec-transform` step; its program starts with the first message.
struct ExecTransformStep: RouteStep {
    let program: ExecProgram
    let command: String

    var name: String { "exec-transform" }
    var label: String { "exec-transform \(URL(fileURLWithPath: command).lastPathComponent)" }

    func run(_ exchange: Exchange) async throws -> StepOutcome {
        let body: [UInt8]
        do {
            body = try exchange.document.serialized()
        } catch {
            throw StepFailure.permanent("exec-transform-invalid", "cannot serialise the document: \(error)")
        }
        let header = FrameHeader(
            type: "deliver", seq: nil, messageID: exchange.header.messageID, route: exchange.route,
            endpoint: program.endpoint,
            contentType: "application/xml", headers: exchange.headers)
        let answer = try await program.request(Frame(header, body: body))
        try ExecSink.check(answer, endpoint: program.endpoint)
        guard !answer.body.isEmpty else { return .proceed }
        do {
            exchange.document = try XMLDocument(parsing: answer.body)
        } catch {
            throw StepFailure.permanent(
                "exec-transform-invalid", "\(program.endpoint) answered a body that is not XML: \(error)")
        }
        return .proceed
    }
}
