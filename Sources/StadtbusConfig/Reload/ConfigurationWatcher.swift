import Foundation
import Logging
import StadtbusCore
import StadtbusXML
import Synchronization

/// Hot reload: reloads the configuration when one of its files — or a schema, stylesheet or
/// rules file it uses — changes (polling modification times), or when asked (`SIGHUP`), and
/// swaps the engine's routing table only when the new configuration loads completely. An
/// invalid change is logged and the running configuration keeps working. Each reload compiles
/// schemas and stylesheets afresh, so an edited stylesheet takes effect.
public final class ConfigurationWatcher: Sendable {
    /// The outcome of one reload.
    public enum ReloadResult: Sendable {
        case reloaded(LoadedConfiguration)
        case unchanged
        case failed(ConfigurationError)
    }

    private let path: String
    private let loader: ConfigurationLoader
    private let engine: RoutingEngine
    private let logger: Logger
    private let onReload: @Sendable (LoadedConfiguration) -> Void
    /// The watched files, their modification times at the last load, and the polling task.
    private struct State {
        var files: [String]
        var stamps: [String: Date]
        var task: Task<Void, Never>?
    }
    private let state: Mutex<State>

    /// - Parameters:
    ///   - path: the main configuration file.
    ///   - current: the configuration the engine runs now (its files are watched).
    ///   - onReload: called after each successful swap (e.g. to start new endpoints).
    public init(
        path: String, current: LoadedConfiguration, loader: ConfigurationLoader, engine: RoutingEngine,
        logger: Logger = Logger(label: "stadtbus.config"),
        onReload: @escaping @Sendable (LoadedConfiguration) -> Void = { _ in }
    ) {
        self.path = path
        self.loader = loader
        self.engine = engine
        self.logger = logger
        self.onReload = onReload
        let files = current.files + current.dependencies
        state = Mutex(State(files: files, stamps: Self.stamps(of: files)))
    }

    deinit { state.withLock { $0.task?.cancel() } }

    /// Starts polling every `interval`.
    public func start(interval: Duration = .seconds(1)) {
        state.withLock { state in
            state.task?.cancel()
            state.task = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    if self.hasChanged() { _ = self.reload() }
                }
            }
        }
    }

    /// Stops polling (a reload asked for with ``reload()`` still works).
    public func stop() {
        state.withLock { state in
            state.task?.cancel()
            state.task = nil
        }
    }

    /// Whether any watched file's modification time (or existence) changed since the last load.
    public func hasChanged() -> Bool {
        let (files, stamps) = state.withLock { ($0.files, $0.stamps) }
        return Self.stamps(of: files) != stamps
    }

    /// Loads the configuration now and swaps it in if it is valid.
    @discardableResult
    public func reload() -> ReloadResult {
        let files = state.withLock { $0.files }
        let newStamps = Self.stamps(of: files)
        var loader = self.loader
        loader.schemaCache = XMLSchemaCache()
        loader.stylesheetCache = XSLTStylesheetCache()
        do {
            let loaded = try loader.load(path: path)
            let loadedFiles = loaded.files + loaded.dependencies
            let loadedStamps = Self.stamps(of: loadedFiles)
            state.withLock { state in
                state.files = loadedFiles
                state.stamps = loadedStamps
            }
            engine.replace(with: loaded.table)
            logger.info(
                "configuration reloaded", metadata: ["file": "\(path)", "routes": "\(loaded.table.routes.count)"])
            onReload(loaded)
            return .reloaded(loaded)
        } catch let error as ConfigurationError {
            // Remember the broken state so the same error is not logged every second.
            state.withLock { $0.stamps = newStamps }
            logger.error(
                "configuration not reloaded: it has errors; the running configuration stays",
                metadata: ["file": "\(path)", "errors": "\(error.diagnostics.count)"])
            for diagnostic in error.diagnostics { logger.error("\(diagnostic)") }
            return .failed(error)
        } catch {
            state.withLock { $0.stamps = newStamps }
            logger.error("configuration not reloaded: \(error)")
            return .failed(
                ConfigurationError(diagnostics: [
                    ConfigDiagnostic(SourcePosition(file: path, line: 1, column: 1), "\(error)")
                ]))
        }
    }

    private static func stamps(of files: [String]) -> [String: Date] {
        var result: [String: Date] = [:]
        for file in files {
            let attributes = try? FileManager.default.attributesOfItem(atPath: file)
            result[file] = (attributes?[.modificationDate] as? Date) ?? .distantPast
        }
        return result
    }
}
