import Foundation
import StadtbusCore
import StadtbusXML

extension LoadSession {
    /// Reads every section except `routes` (and header profiles, see ``headerExtractor()``).
    func interpretSections() {
        // Variables first: everything else may use them.
        for (name, _, value) in named["variables"] ?? [] {
            guard let raw = reader.string(value, "variable '\(name)'"), var text = reader.expand(raw, at: value) else {
                continue
            }
            if text.hasPrefix("./") || text.hasPrefix("../") { text = NodeReader.resolve(text, relativeTo: value.file) }
            reader.variables[name] = text
        }
        for (prefix, _, value) in named["namespaces"] ?? [] {
            if let uri = reader.string(value, "namespace '\(prefix)'") { settings.namespaces[prefix] = uri }
        }
        for catalog in lists["catalogs"] ?? [] {
            guard let path = reader.path(catalog, "catalog") else { continue }
            do {
                try XMLCatalogs.load(path)
                settings.catalogs.append(path)
            } catch {
                diagnostics.error(catalog.position, "\(error)")
            }
        }
        for (name, _, value) in named["schemas"] ?? [] {
            guard let path = reader.path(value, "schema '\(name)'") else { continue }
            do {
                _ = try loader.schemaCache.schema(at: path)
                dependencies.append(path)
                settings.schemas[name] = path
            } catch {
                diagnostics.error(value.position, "schema '\(name)': \(error)")
            }
        }
        for (name, _, value) in named["keys"] ?? [] { readKey(name, value) }
        if let (_, value) = singles["trust-store"] {
            settings.trustStore = reader.path(value, "trust-store", directory: true)
        }
        for (kennung, _, value) in named["signer-identities"] ?? [] { readSignerIdentity(kennung, value) }
        for (name, key, value) in named["endpoints"] ?? [] { readEndpoint(name, key, value) }
        if let (_, value) = singles["address-directory"] { readAddressDirectory(value) }
        if let (_, value) = singles["broker"] { settings.broker = readBroker(value, context: "broker") }
        for (name, key, value) in named["brokers"] ?? [] {
            if name == BrokerSettings.mainName {
                diagnostics.error(
                    key.position, "broker name '\(name)' is reserved for the 'broker:' section — choose another name")
            } else if let broker = readBroker(value, context: "brokers.\(name)") {
                settings.brokers[name] = broker
            }
        }
        checkEndpointBrokers()
        if let (_, value) = singles["identity"] { readIdentity(value) }
        if let (_, value) = singles["stores"] { readStores(value) }
        if let (_, value) = singles["http"], let fields = reader.fields(value, "'http'", allowed: ["bind", "port"]) {
            if let node = fields["bind"], let text = reader.string(node, "http.bind"),
                let bind = reader.expand(text, at: node)
            {
                settings.http.bind = bind
            }
            if let port = fields["port"].flatMap({ reader.int($0, "http.port", in: 0...65_535) }) {
                settings.http.port = port
            }
        }
        readInFlightWindow()
        if let (_, value) = singles["logging"], let fields = reader.fields(value, "'logging'", allowed: ["level"]) {
            if let level = fields["level"],
                let text = reader.value(level, .oneOf(Self.logLevels), "logging.level")?.string
            {
                settings.logLevel = text
            }
        }
        if let (_, value) = singles["defaults"], let fields = reader.fields(value, "'defaults'", allowed: ["on-error"])
        {
            if let onError = fields["on-error"], let policy = errorPolicy(onError, base: ErrorPolicy()) {
                defaultErrorPolicy = policy
            }
        }
    }

    /// `max-in-flight: N`, and the deprecated `workers: N` it replaces (read as `max-in-flight: N`
    /// when `max-in-flight` is not set, with a warning).
    private func readInFlightWindow() {
        var explicit = false
        if let (_, value) = singles["max-in-flight"],
            let window = reader.int(value, "max-in-flight", in: 1...Self.maxInFlightLimit)
        {
            settings.maxInFlight = window
            explicit = true
        }
        guard let (key, value) = singles["workers"], let workers = reader.int(value, "workers", in: 1...256) else {
            return
        }
        let why =
            "CPU concurrency follows the number of cores, and a message waiting for a confirm or a commit holds no CPU"
        if explicit {
            settings.warnings.append(
                ConfigDiagnostic(
                    key.position,
                    "'workers' is deprecated and ignored here because 'max-in-flight' is set: remove it (\(why))"))
        } else {
            settings.maxInFlight = workers
            settings.warnings.append(
                ConfigDiagnostic(
                    key.position,
                    "'workers' is deprecated: use 'max-in-flight' (how many messages each source keeps in progress, "
                        + "default \(StadtbusSettings.defaultMaxInFlight)); \(why). 'workers: \(workers)' is read as "
                        + "'max-in-flight: \(workers)' for now"))
        }
    }

    /// The largest `max-in-flight` (an AMQP prefetch is at most 65,535; memory is the real bound).
    static let maxInFlightLimit = 10_000

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    static let signerIdentityKinds = ["fingerprint-sha256", "cn", "serial", "san-uri", "ags"]

    /// `signer-identities: { KENNUNG: [kind=value, …] }` — checked here so errors point at the rule.
    private func readSignerIdentity(_ kennung: String, _ value: YNode) {
        guard let rules = reader.strings(value, "signer identity of '\(kennung)'") else { return }
        var accepted: [String] = []
        for (index, rule) in rules.enumerated() {
            let node = value.listElements.indices.contains(index) ? value.listElements[index] : value
            guard let equals = rule.firstIndex(of: "="), rule.index(after: equals) < rule.endIndex else {
                diagnostics.error(
                    node.position,
                    "signer identity rule '\(rule)' must be KIND=VALUE, e.g. 'fingerprint-sha256=AB:CD:…' or 'cn=Stadt Itzehoe'"
                )
                continue
            }
            let kind = rule[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            guard Self.signerIdentityKinds.contains(kind) else {
                let hint =
                    DidYouMean.suggestion(for: kind, in: Self.signerIdentityKinds).map { " — did you mean '\($0)'?" }
                    ?? " (expected one of \(Self.signerIdentityKinds.joined(separator: ", ")))"
                diagnostics.error(node.position, "unknown signer identity kind '\(kind)'\(hint)")
                continue
            }
            if kind == "fingerprint-sha256" {
                let hex = rule[rule.index(after: equals)...].filter { $0 != ":" && $0 != " " }
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                    diagnostics.error(
                        node.position,
                        "a SHA-256 fingerprint has 64 hex digits (colons allowed), found '\(rule[rule.index(after: equals)...])'"
                    )
                    continue
                }
            }
            accepted.append(rule)
        }
        settings.signerIdentities[kennung] = accepted
    }

    private func secret(_ fields: Fields, _ context: String, envKey: String, fileKey: String) -> SecretSource? {
        if fields.has(envKey) && fields.has(fileKey) {
            diagnostics.error(fields.keyPosition(fileKey), "\(context) needs '\(envKey)' or '\(fileKey)', not both")
            return nil
        }
        if let node = fields[envKey], let name = reader.string(node, "\(context) \(envKey)") {
            return .environment(name)
        }
        if let node = fields[fileKey], let path = reader.path(node, "\(context) \(fileKey)") { return .file(path) }
        return nil
    }

    /// `broker:` or one entry of `brokers:` (another municipality's broker, for example).
    private func readBroker(_ node: YNode, context: String) -> BrokerSettings? {
        let inline =
            "inline secrets are not allowed in the configuration — use 'password-env: VARIABLE' or 'password-file: PATH'"
        guard
            let fields = reader.fields(
                node, "'\(context)'",
                allowed: ["host", "port", "vhost", "user", "password-env", "password-file", "tls", "heartbeat"],
                special: ["password": inline])
        else { return nil }
        var broker = BrokerSettings()
        if let node = fields["host"], let text = reader.string(node, "\(context).host"),
            let host = reader.expand(text, at: node)
        {
            broker.host = host
        }
        if let port = fields["port"].flatMap({ reader.int($0, "\(context).port", in: 1...65_535) }) {
            broker.port = port
        }
        if let node = fields["vhost"], let text = reader.string(node, "\(context).vhost"),
            let vhost = reader.expand(text, at: node)
        {
            broker.vhost = vhost
        }
        if let node = fields["user"], let text = reader.string(node, "\(context).user"),
            let user = reader.expand(text, at: node)
        {
            broker.user = user
        }
        if let heartbeat = fields["heartbeat"].flatMap({ reader.duration($0, "\(context).heartbeat") }) {
            broker.heartbeat = heartbeat
        }
        broker.password = secret(fields, context, envKey: "password-env", fileKey: "password-file")
        if let tls = fields["tls"],
            let tlsFields = reader.fields(tls, "'\(context).tls'", allowed: ["ca", "cert", "key"])
        {
            broker.tls = TLSSettings(
                ca: tlsFields["ca"].flatMap { reader.path($0, "\(context).tls.ca") },
                certificate: tlsFields["cert"].flatMap { reader.path($0, "\(context).tls.cert") },
                key: tlsFields["key"].flatMap { reader.path($0, "\(context).tls.key") })
        }
        return broker
    }

    /// Every endpoint setting `broker: NAME` must name `main` or an entry of `brokers:`.
    private func checkEndpointBrokers() {
        for (name, _, node) in named["endpoints"] ?? [] {
            guard let endpoint = settings.endpoints[name], let broker = endpoint.settings["broker"]?.string,
                broker != BrokerSettings.mainName, settings.brokers[broker] == nil
            else { continue }
            var position = node.position
            if case .mapping(let mapping) = node.node,
                let value = mapping.first(where: { $0.key.scalar?.string == "broker" })?.value
            {
                position = YNode(node: value, file: node.file).position
            }
            let known = [BrokerSettings.mainName] + settings.brokers.keys.sorted()
            diagnostics.error(
                position,
                "endpoint '\(name)' uses unknown broker '\(broker)'"
                    + (DidYouMean.suggestion(for: broker, in: known).map { " — did you mean '\($0)'?" }
                        ?? " — declare it under 'brokers:' (known: \(known.joined(separator: ", ")))"))
        }
    }

    private func readIdentity(_ node: YNode) {
        guard let fields = reader.fields(node, "'identity'", allowed: ["kennung", "name", "directory"]) else { return }
        guard
            let kennungNode = reader.require(
                fields, "kennung", "'identity'", expected: "this authority's kennung, e.g. ags:01061046"),
            let kennung = reader.string(kennungNode, "identity.kennung")
        else { return }
        settings.identity = IdentitySettings(
            kennung: kennung, name: fields["name"].flatMap { reader.string($0, "identity.name") },
            directory: fields["directory"].flatMap { reader.string($0, "identity.directory") })
    }

    private func readStores(_ node: YNode) {
        guard
            let fields = reader.fields(
                node, "'stores'", allowed: ["idempotency", "audit", "cases", "retention", "case-retention"])
        else { return }
        settings.stores.idempotency = fields["idempotency"].flatMap {
            reader.path($0, "stores.idempotency", mustExist: false)
        }
        settings.stores.audit = fields["audit"].flatMap { reader.path($0, "stores.audit", mustExist: false) }
        settings.stores.cases =
            fields["cases"].flatMap { reader.path($0, "stores.cases", mustExist: false) } ?? settings.stores.idempotency
        if let retention = fields["retention"].flatMap({ reader.duration($0, "stores.retention") }) {
            settings.stores.retention = retention
        }
        if let retention = fields["case-retention"].flatMap({ reader.duration($0, "stores.case-retention") }) {
            settings.stores.caseRetention = retention
        }
    }

    private func readKey(_ name: String, _ node: YNode) {
        let context = "key '\(name)'"
        let inline =
            "inline secrets are not allowed in the configuration — use 'passphrase-env: VARIABLE' or 'passphrase-file: PATH'"
        guard
            let fields = reader.fields(
                node, context, allowed: ["certificate", "private-key", "passphrase-env", "passphrase-file"],
                special: ["passphrase": inline])
        else { return }
        let certificate = reader.require(fields, "certificate", context, expected: "path to the PEM certificate")
            .flatMap {
                reader.path($0, "\(context) certificate")
            }
        let privateKey = reader.require(fields, "private-key", context, expected: "path to the PEM private key").flatMap
        {
            reader.path($0, "\(context) private-key")
        }
        let passphrase = secret(fields, context, envKey: "passphrase-env", fileKey: "passphrase-file")
        guard let certificate, let privateKey else { return }
        settings.keys[name] = KeyDefinition(
            name: name, certificate: certificate, privateKey: privateKey, passphrase: passphrase)
    }

    private func readEndpoint(_ name: String, _ key: YNode, _ node: YNode) {
        let context = "endpoint '\(name)'"
        guard case .mapping(let mapping) = node.node else {
            diagnostics.error(
                node.position, "\(context) must be a mapping with 'type' and its settings, found \(node.kind)")
            return
        }
        let typeNode = mapping.first { $0.key.scalar?.string == "type" }.map { YNode(node: $0.value, file: node.file) }
        guard let typeNode else {
            diagnostics.error(node.position, "\(context) is missing 'type' (one of \(knownAdapterTypes))")
            return
        }
        guard let typeName = reader.string(typeNode, "\(context) type") else { return }
        guard let type = loader.adapterTypes[typeName] else {
            diagnostics.error(
                typeNode.position,
                "unknown adapter type '\(typeName)' for \(context)"
                    + (DidYouMean.suggestion(for: typeName, in: Array(loader.adapterTypes.types.keys)).map {
                        " — did you mean '\($0)'?"
                    }
                        ?? " — expected one of \(knownAdapterTypes)"))
            return
        }
        let allowed = ["type", "description"] + type.settings.fields.map(\.name)
        guard let fields = reader.fields(node, "\(context) (type \(typeName))", allowed: allowed) else { return }
        let values = reader.settings(fields, schema: type.settings, context: context)
        settings.endpoints[name] = Endpoint(name: name, type: typeName, settings: values)
    }

    private var knownAdapterTypes: String {
        loader.adapterTypes.types.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
    }

    /// `on-error: {retry: {attempts, backoff, retryable}, dead-letter: ENDPOINT}` over `base`.
    func errorPolicy(_ node: YNode, base: ErrorPolicy) -> ErrorPolicy? {
        guard let fields = reader.fields(node, "'on-error'", allowed: ["retry", "dead-letter"]) else { return nil }
        var policy = base
        if let retry = fields["retry"] {
            if retry.scalar == "none" {
                policy.retry.maxAttempts = 1
            } else if let retryFields = reader.fields(
                retry, "'retry' (or 'retry: none')", allowed: ["attempts", "backoff", "retryable"])
            {
                if let attempts = retryFields["attempts"].flatMap({ reader.int($0, "retry.attempts", in: 1...100) }) {
                    policy.retry.maxAttempts = attempts
                }
                if let (low, high) = retryFields["backoff"].flatMap({ reader.durationRange($0, "retry.backoff") }) {
                    policy.retry.minDelay = low
                    policy.retry.maxDelay = high
                }
                if let codes = retryFields["retryable"].flatMap({ reader.strings($0, "retry.retryable") }) {
                    policy.retry.retryOn = Set(codes)
                }
            }
        }
        if let deadLetter = fields["dead-letter"], let name = reader.string(deadLetter, "dead-letter") {
            if sendableEndpoint(name, at: deadLetter, role: "dead-letter") { policy.deadLetter = name }
        }
        return policy
    }

    /// Checks that `name` is an endpoint a route may deliver to.
    func sendableEndpoint(_ name: String, at node: YNode, role: String) -> Bool {
        guard let endpoint = settings.endpoints[name] else {
            if named["endpoints"]?.contains(where: { $0.name == name }) == true { return false }  // defined but broken: reported already
            diagnostics.error(
                node.position,
                "unknown endpoint '\(name)' in \(role)"
                    + (DidYouMean.suggestion(for: name, in: Array(settings.endpoints.keys)).map {
                        " — did you mean '\($0)'?"
                    }
                        ?? " — declare it under 'endpoints:'"))
            return false
        }
        if loader.adapterTypes[endpoint.type]?.canSend == false {
            diagnostics.error(
                node.position, "endpoint '\(name)' (type \(endpoint.type)) only receives; it cannot be used as \(role)")
            return false
        }
        return true
    }

    /// Compiles `header-profiles:` (before the built-in ones) into the header extractor.
    func headerExtractor() -> HeaderExtractor? {
        var profiles: [HeaderProfile] = []
        for (name, _, node) in named["header-profiles"] ?? [] {
            let context = "header profile '\(name)'"
            guard
                let fields = reader.fields(
                    node, context,
                    allowed: [
                        "root-namespaces", "namespaces", "detect", "identity", "message-type", "message-type-name",
                        "created-at", "author", "reader",
                    ])
            else { continue }
            var namespaces = settings.namespaces
            if let ns = fields["namespaces"], case .mapping(let mapping) = ns.node {
                for (key, value) in mapping {
                    if let prefix = key.scalar?.string,
                        let uri = reader.string(YNode(node: value, file: ns.file), "namespace '\(prefix)'")
                    {
                        namespaces[prefix] = uri
                    }
                }
            }
            func xpath(_ key: String, required: Bool) -> String? {
                guard let node = fields[key] else {
                    if required { diagnostics.error(fields.node.position, "\(context) is missing '\(key)' (an XPath)") }
                    return nil
                }
                guard let text = reader.string(node, "\(context) \(key)") else { return nil }
                return checkXPath(text, at: node, namespaces: namespaces) != nil ? text : nil
            }
            func authority(_ key: String) -> HeaderProfile.AuthorityPaths? {
                guard let node = fields[key],
                    let authority = reader.fields(node, "\(context) \(key)", allowed: ["kennung", "directory", "name"])
                else {
                    return nil
                }
                func path(_ field: String) -> String? {
                    guard let value = authority[field], let text = reader.string(value, "\(context) \(key).\(field)"),
                        checkXPath(text, at: value, namespaces: namespaces) != nil
                    else { return nil }
                    return text
                }
                guard let kennung = path("kennung") else {
                    if authority["kennung"] == nil {
                        diagnostics.error(node.position, "\(context) \(key) is missing 'kennung' (an XPath)")
                    }
                    return nil
                }
                return .init(kennung: kennung, directory: path("directory"), name: path("name"))
            }
            var identity: [String] = []
            if let node = fields["identity"] {
                let expressions = reader.strings(node, "\(context) identity") ?? []
                identity = expressions.filter { checkXPath($0, at: node, namespaces: namespaces) != nil }
                if identity.count != expressions.count { identity = [] }
            } else {
                diagnostics.error(fields.node.position, "\(context) is missing 'identity' (XPath(s) of the message id)")
            }
            let rootNamespaces =
                fields["root-namespaces"].flatMap { reader.strings($0, "\(context) root-namespaces") } ?? []
            let (authorPaths, readerPaths) = (authority("author"), authority("reader"))
            let (messageTypeName, createdAt) = (
                xpath("message-type-name", required: false), xpath("created-at", required: false)
            )
            guard let detect = xpath("detect", required: true), let messageType = xpath("message-type", required: true),
                !identity.isEmpty
            else {
                continue
            }
            profiles.append(
                HeaderProfile(
                    name: name, rootNamespaces: rootNamespaces, namespaces: namespaces, detect: detect,
                    identity: identity,
                    messageType: messageType, messageTypeName: messageTypeName, createdAt: createdAt,
                    author: authorPaths, reader: readerPaths))
        }
        do {
            return try HeaderExtractor(profiles: profiles + HeaderProfile.builtIn)
        } catch {
            diagnostics.error(
                named["header-profiles"]?.first?.key.position
                    ?? SourcePosition(file: files.first ?? "", line: 1, column: 1), "\(error)")
            return nil
        }
    }
}
