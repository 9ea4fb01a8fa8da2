import Foundation
import StadtbusAdapterKit
import StadtbusCore
import Synchronization

/// `exec`: adapters written in any language. Stadtbus starts the configured program and talks
/// to it over stdin/stdout with framing v1 (README.md): a JSON header line, the body bytes,
/// a newline. As a destination (`to:`) the program answers each `deliver` with a `result`;
/// as a source (`from:`) it sends `message` frames and gets `settled` once the engine's
/// outcome is durable. stderr lines are logged (rate-limited) with the endpoint name.
///
/// ```yaml
/// fachverfahren.ablage:
///   type: exec
///   command: ../adapters/exec/examples/fachverfahren-ablage.py
///   arguments: [--folder, /var/lib/ablage]
///   environment: {ABLAGE_MODE: strict}
///   timeout: 30s
///   max-in-flight: 8
///   restart-backoff: 1s..60s
/// ```
public struct ExecAdapter: Adapter {
    private let sinks = SinkList()
    private let stepPrograms = StepProgramList()

    public init() {}

    public let type = AdapterType(
        name: "exec",
        settings: SettingsSchema(ExecAdapter.settingFields),
        canReceive: true, canSend: true,
        summary:
            "a program in any language over stdin/stdout (framing v1): results ok/retry/fail, restarts with backoff")

    /// The settings of an exec endpoint (and of the `exec-transform` step).
    static let settingFields: [SettingsSchema.Field] = [
        .init("command", .file, required: true, help: "the program to start (must be executable)"),
        .init("arguments", .list(.string), help: "arguments passed to the program"),
        .init(
            "environment", .stringMap,
            help: "variables for the program; it gets only PATH, LANG, HOME, STADTBUS_ENDPOINT plus these"),
        .init("working-directory", .path, help: "the program's working directory (default: Stadtbus's)"),
        .init("timeout", .duration, default: .duration(ExecSettings.defaultTimeout), help: "per message"),
        .init(
            "max-in-flight", .int(1...1024), default: .int(ExecSettings.defaultMaxInFlight),
            help: "frames awaiting an answer at most; further messages wait"),
        .init(
            "restart-backoff", .string, default: .string(ExecSettings.defaultRestartBackoff),
            help: "MIN..MAX delay before restarting a crashed program, doubled per failure"),
    ]

    /// The `exec-transform` step.
    public var steps: [any StepFactory] { [ExecTransformStepFactory(programs: stepPrograms)] }

    /// Checks every endpoint's settings and that its command is an executable file.
    public func prepare(_ endpoints: [Endpoint], context: AdapterContext) async throws {
        for endpoint in endpoints {
            let settings = try ExecSettings(endpoint: endpoint)
            try ExecError.checkExecutable(settings.command, endpoint: endpoint.name)
            if let directory = settings.workingDirectory {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                    isDirectory.boolValue
                else {
                    throw ExecError.invalidSetting(
                        endpoint: endpoint.name, setting: "working-directory",
                        problem: "'\(directory)' is not a directory")
                }
            }
        }
    }

    public func makeSink(context: AdapterContext) throws -> any MessageSink {
        let sink = ExecSink(logger: context.logger)
        sinks.add(sink)
        return sink
    }

    public func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        let settings = try ExecSettings(endpoint: endpoint)
        try ExecError.checkExecutable(settings.command, endpoint: endpoint.name)
        return ExecSource(endpoint: endpoint, settings: settings, context: context)
    }

    /// Stops the programs of every sink this adapter made (stdin closed, then SIGTERM, then
    /// SIGKILL). Sources stop their own program when they are stopped. The runtime calls this
    /// after draining.
    public func shutdown() async {
        for sink in sinks.all { await sink.shutdown() }
        for program in stepPrograms.live { await program.shutdown() }
    }
}

/// The sinks an adapter value made (the adapter is a struct shared by value).
final class SinkList: Sendable {
    private let sinks = Mutex<[ExecSink]>([])

    func add(_ sink: ExecSink) { sinks.withLock { $0.append(sink) } }

    var all: [ExecSink] { sinks.withLock { $0 } }
}

/// The programs of compiled `exec-transform` steps, held weakly: a step dropped by a reload
/// ends its program when it is released (see `ExecProgram.deinit`).
final class StepProgramList: Sendable {
    private struct Weak {
        weak var program: ExecProgram?
    }

    private let programs = Mutex<[Weak]>([])

    func add(_ program: ExecProgram) {
        programs.withLock { programs in
            programs.removeAll { $0.program == nil }
            programs.append(Weak(program: program))
        }
    }

    var live: [ExecProgram] { programs.withLock { $0.compactMap(\.program) } }
}
