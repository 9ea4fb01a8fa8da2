import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StadtbusAdapters
import StadtbusConfig
import StadtbusOperations
import StadtbusRuntime
import StadtbusStandard
import UnixSignals

/// `stadtbus run --config FILE`: the service.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run Stadtbus: consume, route and deliver messages; serve /health, /ready and /metrics.")

    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "Log format: human or json.")
    var logFormat: LogFormatArgument = .human

    @Option(name: .long, help: "Seconds a shutdown waits for in-flight messages.")
    var drainTimeout: Int = 30

    @Flag(name: .long, help: "Do not reload when a configuration file changes (SIGHUP still reloads).")
    var noWatch = false

    /// Seconds beyond `--drain-timeout` after which a shutdown that is still not finished ends
    /// the process anyway (exit status 1).
    static let watchdogGraceSeconds = 40

    func run() async throws {
        let level = LogLevelBox(.info)
        logFormat.format.bootstrap(level: level)
        let logger = Logger(label: "stadtbus")

        let loader = StandardLoader.make()
        let loaded: LoadedConfiguration
        do {
            loaded = try loader.load(path: config)
        } catch let error as ConfigurationError {
            for diagnostic in error.diagnostics { logger.critical("\(diagnostic)") }
            throw ExitCode(2)
        }

        let metrics = StadtbusMetrics()
        metrics.bootstrap()
        let readiness = Readiness()
        metrics.setReady(false)
        readiness.observe { metrics.setReady($0) }

        // The operations server, broker connections, stores, adapters, sources and
        // configuration reload as one service group; SIGTERM/SIGINT shut it down in reverse
        // start order. The sources give up on in-flight messages after the drain timeout; the
        // adapters and broker connections then get StadtbusRuntime's close grace each.
        let runtime: StadtbusRuntime
        do {
            runtime = try StadtbusRuntime(
                options: RuntimeOptions(
                    configPath: config, drainTimeout: .seconds(drainTimeout), watchConfiguration: !noWatch),
                initial: loaded, loader: loader, adapters: StandardAdapters.registry, metrics: metrics,
                readiness: readiness, logLevel: level, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let group = runtime.serviceGroup(
            gracefulShutdownSignals: [.sigterm, .sigint], maximumGracefulShutdownDuration: .seconds(drainTimeout + 25))

        // A second SIGTERM/SIGINT ends the process at once: unfinished messages are not
        // acked and the broker delivers them again after the restart. After the first one, a
        // watchdog makes sure the process ends even if something ignores the shutdown.
        let watchdogDelay = Duration.seconds(drainTimeout + Self.watchdogGraceSeconds)
        let forced = Task {
            var count = 0
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                count += 1
                if count == 1 {
                    Task.detached {
                        try await Task.sleep(for: watchdogDelay)
                        logger.critical(
                            "shutdown did not finish within the drain timeout and grace; exiting (unfinished messages are delivered again)",
                            metadata: ["after": "\(watchdogDelay)"])
                        Foundation.exit(1)
                    }
                }
                if count >= 2 {
                    logger.warning("second termination signal: exiting without waiting for in-flight messages")
                    Foundation.exit(1)
                }
            }
        }
        defer { forced.cancel() }
        try await group.run()
    }
}

/// `--log-format` values.
enum LogFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case human, json

    var format: LogFormat { self == .json ? .json : .human }
}
