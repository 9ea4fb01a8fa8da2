import Foundation
import StadtbusCore
import StadtbusXML
import Yams

/// A configuration that loaded completely: every reference resolved, every schema and
/// stylesheet compiled. It cannot fail later for a missing file.
public struct LoadedConfiguration: Sendable {
    /// Broker, identity, endpoints, keys, stores, … for the runtime.
    public let settings: StadtbusSettings
    /// The compiled routes for ``RoutingEngine``.
    public let table: RoutingTable
    /// Every file the configuration was read from (absolute paths), for the reload watcher.
    public let files: [String]
    /// Schemas, stylesheets and mapping-rules files it compiled (absolute paths); the reload
    /// watcher watches them too.
    public let dependencies: [String]
}

/// Loads a Stadtbus configuration (YAML, with `include:`) into a ``LoadedConfiguration``.
///
/// All problems are collected and thrown together as a ``ConfigurationError`` whose
/// diagnostics name file:line:column. The schema and stylesheet caches are shared between
/// loads, so a reload only compiles what is new.
public struct ConfigurationLoader: Sendable {
    /// Environment for `${VAR}` expansion.
    public var environment: [String: String]
    public var adapterTypes: AdapterTypeRegistry
    /// The steps that modules register: adapter steps (`exec-transform`, …) and `sign`/`verify`
    /// (``SignStepFactory``, ``VerifyStepFactory``). A step a configuration uses that no module
    /// registered is a load error ("not available in this build"), never a run-time failure.
    /// StadtbusStandard's `StandardLoader` registers every step of the standard build.
    public var steps: StepRegistry
    /// The mapping-rules compiler; `nil` until the mapping module is wired in.
    public var mappingRules: (any MappingRulesCompiling)?
    public var schemaCache: XMLSchemaCache
    public var stylesheetCache: XSLTStylesheetCache

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        adapterTypes: AdapterTypeRegistry = AdapterTypeRegistry(),
        steps: StepRegistry = StepRegistry(), mappingRules: (any MappingRulesCompiling)? = YAMLMappingRules(),
        schemaCache: XMLSchemaCache = XMLSchemaCache(),
        stylesheetCache: XSLTStylesheetCache = XSLTStylesheetCache()
    ) {
        self.environment = environment
        self.adapterTypes = adapterTypes
        self.steps = steps
        self.mappingRules = mappingRules
        self.schemaCache = schemaCache
        self.stylesheetCache = stylesheetCache
    }

    /// Loads the configuration at `path` (and its includes).
    /// - Throws: ``ConfigurationError`` with every problem found.
    public func load(path: String) throws -> LoadedConfiguration {
        let session = LoadSession(loader: self)
        return try session.load(path)
    }
}

/// One load: reads files, merges their sections and compiles them, collecting diagnostics.
final class LoadSession {
    static let topLevelKeys = [
        "include", "variables", "namespaces", "broker", "brokers", "identity", "endpoints", "header-profiles",
        "catalogs",
        "schemas", "keys", "trust-store", "signer-identities", "stores", "http", "max-in-flight", "workers",
        "logging", "defaults",
        "routes",
        "address-directory", "parse-limits",
    ]
    static let mapSections = [
        "variables", "namespaces", "brokers", "endpoints", "header-profiles", "schemas", "keys", "signer-identities",
    ]
    static let listSections = ["catalogs", "routes"]

    let loader: ConfigurationLoader
    let diagnostics = Diagnostics()
    var reader: NodeReader
    var files: [String] = []
    var absoluteFiles: [String] = []
    var dependencies: [String] = []
    var named: [String: [(name: String, key: YNode, value: YNode)]] = [:]
    var lists: [String: [YNode]] = [:]
    var singles: [String: (key: YNode, value: YNode)] = [:]
    var settings = StadtbusSettings()
    var routeNames: [String: SourcePosition] = [:]
    var defaultErrorPolicy = ErrorPolicy()
    /// Whether `address-directory:` was given (even if some entries were broken).
    var addressDirectoryDeclared = false
    /// Set while a route's `when` is compiled: no case can have been correlated yet.
    var compilingRouteCondition = false

    init(loader: ConfigurationLoader) {
        self.loader = loader
        self.reader = NodeReader(diagnostics: diagnostics, environment: loader.environment)
    }

    func load(_ path: String) throws -> LoadedConfiguration {
        readFile(path, includedFrom: nil, chain: [])
        diagnostics.fileOrder = files
        interpretSections()
        let extractor = headerExtractor()
        let routes = compileRoutes(lists["routes"] ?? [])
        let parseLimits = readParseLimits()
        guard diagnostics.isEmpty, let extractor else { throw ConfigurationError(diagnostics: diagnostics.sorted) }
        do {
            let table = try RoutingTable(
                routes: routes, endpoints: Array(settings.endpoints.values), headerExtractor: extractor,
                parseLimits: parseLimits,
                defaultDeadLetter: defaultErrorPolicy.deadLetter, version: "\(path) loaded \(Date())",
                addressDirectory: settings.addressDirectory)
            return LoadedConfiguration(
                settings: settings, table: table, files: absoluteFiles, dependencies: dependencies)
        } catch {
            throw ConfigurationError(diagnostics: [
                ConfigDiagnostic(SourcePosition(file: path, line: 1, column: 1), "\(error)")
            ])
        }
    }

    // MARK: - Files and includes

    private func readFile(_ file: String, includedFrom: YNode?, chain: [String]) {
        let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
        if chain.contains(absolute) {
            let names = (chain + [absolute]).map { ($0 as NSString).lastPathComponent }
            diagnostics.error(
                includedFrom?.position ?? .init(file: file, line: 1, column: 1),
                "include cycle: " + names.joined(separator: " → "))
            return
        }
        if absoluteFiles.contains(absolute) { return }
        files.append(file)
        absoluteFiles.append(absolute)
        let start = includedFrom?.position ?? SourcePosition(file: file, line: 1, column: 1)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            diagnostics.error(
                start,
                includedFrom == nil ? "cannot read configuration file '\(file)'" : "cannot read included file '\(file)'"
            )
            return
        }
        guard let text = String(data: data, encoding: .utf8) else {
            diagnostics.error(SourcePosition(file: file, line: 1, column: 1), "configuration file is not valid UTF-8")
            return
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            diagnostics.error(Self.position(of: error, file: file), "YAML syntax error: \(Self.problem(of: error))")
            return
        } catch {
            diagnostics.error(SourcePosition(file: file, line: 1, column: 1), "YAML syntax error: \(error)")
            return
        }
        guard let root else {
            diagnostics.error(SourcePosition(file: file, line: 1, column: 1), "configuration file is empty")
            return
        }
        guard let fields = reader.fields(YNode(node: root, file: file), "the configuration", allowed: Self.topLevelKeys)
        else { return }

        for entry in fields.entries {
            let section = entry.key
            if section == "include" { continue }
            if Self.mapSections.contains(section) {
                guard case .mapping(let mapping) = entry.value.node else {
                    diagnostics.error(
                        entry.value.position, "'\(section)' must be a mapping of names, found \(entry.value.kind)")
                    continue
                }
                for (keyNode, valueNode) in mapping {
                    let key = YNode(node: keyNode, file: file)
                    guard let name = key.scalar, !name.isEmpty else {
                        diagnostics.error(key.position, "names in '\(section)' must be plain words")
                        continue
                    }
                    if let first = named[section, default: []].first(where: { $0.name == name }) {
                        diagnostics.error(
                            key.position,
                            "\(Self.singular(section)) '\(name)' is already defined at \(first.key.position)")
                        continue
                    }
                    named[section, default: []].append((name, key, YNode(node: valueNode, file: file)))
                }
            } else if Self.listSections.contains(section) {
                guard case .sequence = entry.value.node else {
                    diagnostics.error(
                        entry.value.position,
                        "'\(section)' must be a list (items start with '-'), found \(entry.value.kind)")
                    continue
                }
                lists[section, default: []] += entry.value.listElements
            } else {
                if let first = singles[section] {
                    diagnostics.error(
                        entry.keyNode.position, "'\(section)' is already defined at \(first.key.position)")
                    continue
                }
                singles[section] = (entry.keyNode, entry.value)
            }
        }

        if let include = fields["include"] {
            for element in include.listElements {
                guard let raw = reader.string(element, "include"), let expanded = reader.expand(raw, at: element) else {
                    continue
                }
                let display = expanded.hasPrefix("/") ? expanded : NodeReader.display(expanded, relativeTo: file)
                readFile(display, includedFrom: element, chain: chain + [absolute])
            }
        }
    }

    static func singular(_ section: String) -> String {
        switch section {
        case "variables": return "variable"
        case "namespaces": return "namespace prefix"
        case "endpoints": return "endpoint"
        case "header-profiles": return "header profile"
        case "schemas": return "schema"
        case "keys": return "key"
        case "signer-identities": return "signer identity"
        default: return section
        }
    }

    static func position(of error: YamlError, file: String) -> SourcePosition {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return SourcePosition(file: file, line: mark.line, column: mark.column)
        default:
            return SourcePosition(file: file, line: 1, column: 1)
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            return (context.map { "\($0.text) " } ?? "") + problem
        default:
            return "\(error)"
        }
    }
}
