import Foundation
import Logging
import StadtbusXML
import Synchronization

/// The routing engine: turns one inbound ``Message`` into deliveries and a ``Disposition``.
///
/// Pure apart from the protocols it is given (sink, idempotency store, audit journal):
/// no sockets, no files. `Sendable`: call ``process(_:)`` from any number of worker tasks.
/// ``replace(with:)`` swaps the routing table atomically; a message runs entirely on the
/// table it started with, so a reload neither loses nor doubles a message.
public final class RoutingEngine: Sendable {
    private let current: Mutex<RoutingTable>
    private let sink: any MessageSink
    private let idempotency: any IdempotencyStore
    /// The idempotency store, for the dead-letter records (DeadLetterIdempotency.swift).
    var idempotencyStore: any IdempotencyStore { idempotency }
    private let journal: any AuditJournal
    private let cases: any CaseRegistry
    /// Writes a message's deliveries, cases and audit events in one transaction, when the three
    /// stores are one database; `nil` writes them store by store.
    private let combined: (any MessageRecordCommitter)?
    private let logger: Logger
    private let clock = ContinuousClock()
    private let identityGate = IdentityGate()

    /// Creates an engine.
    /// - Parameters:
    ///   - table: the compiled configuration (from `StadtbusConfig`'s loader).
    ///   - sink: delivers to endpoints (the runtime's adapters).
    ///   - idempotency: per route and destination delivery records.
    ///   - journal: the audit trail (metadata only).
    ///   - cases: the case registry for `register-case` and `correlate` steps (e.g. `SQLiteStore.cases`).
    ///     `nil` keeps cases in memory only — they are lost on restart; a warning is logged when
    ///     the table uses case steps.
    public init(
        table: RoutingTable, sink: any MessageSink, idempotency: any IdempotencyStore, journal: any AuditJournal,
        cases: (any CaseRegistry)? = nil, logger: Logger = Logger(label: "stadtbus.engine")
    ) {
        self.current = Mutex(table)
        self.sink = sink
        self.idempotency = idempotency
        self.journal = journal
        let registry = cases ?? InMemoryCaseRegistry()
        self.cases = registry
        self.combined = (idempotency as? any CombinableIdempotencyStore)?.committer(journal: journal, cases: registry)
        self.logger = logger
        if cases == nil { warnIfCasesAreVolatile(table) }
    }

    /// Whether any route of `table` registers or correlates cases.
    static func usesCases(_ table: RoutingTable) -> Bool {
        table.routes.contains { route in route.steps.contains { $0 is RegisterCaseStep || $0 is CorrelateStep } }
    }

    private var casesAreVolatile: Bool { cases is InMemoryCaseRegistry }

    private func warnIfCasesAreVolatile(_ table: RoutingTable) {
        if Self.usesCases(table) {
            logger.warning(
                "routes use register-case/correlate but the engine has no durable case registry: cases are kept in memory only",
                metadata: ["version": "\(table.version)"])
        }
    }

    /// The table new messages are routed with.
    public var table: RoutingTable {
        current.withLock { $0 }
    }

    /// Swaps the routing table atomically (hot reload). Messages already being processed
    /// finish on the table they started with.
    public func replace(with table: RoutingTable) {
        current.withLock { $0 = table }
        if casesAreVolatile { warnIfCasesAreVolatile(table) }
        logger.info(
            "routing table replaced", metadata: ["version": "\(table.version)", "routes": "\(table.routes.count)"])
    }

    /// Processes one message and says what to do with it. Never throws, never traps on input.
    public func process(_ message: Message) async -> Disposition {
        await process(message, route: nil, observer: nil)
    }

    /// Processes one message, optionally forcing `route` (dry-run) and reporting to `observer`.
    public func process(_ message: Message, route forcedRoute: String?, observer: (any ProcessingObserver)?) async
        -> Disposition
    {
        let run = Run(table: table, message: message, observer: observer)
        var disposition = await route(run, forcedRoute: forcedRoute)
        if case .deadLetter(_, _, let failedRoute, _) = disposition,
            wasDeadLettered(message, headerMessageID: run.header?.messageID, route: failedRoute)
        {
            // A redelivery of a message whose dead letter is already confirmed (the ack was lost).
            run.events.removeAll { $0.kind == .deadLettered }
            run.event(.duplicate, reason: "already dead-lettered")
            disposition = .duplicate
        }
        let result = await finish(run, disposition)
        // Only now, with this copy's records committed, may the next copy check them.
        if let identity = run.gateIdentity { identityGate.leave(identity) }
        return result
    }

    // MARK: - One message

    /// The state of one `process` call.
    final class Run {
        let table: RoutingTable
        let message: Message
        let observer: (any ProcessingObserver)?
        var header: MessageHeader?
        var matchedRoute: String?
        var events: [AuditEvent] = []
        var delivered = 0
        var alreadyDelivered = 0
        /// Destinations (`route` + `\u{1}` + key) the early idempotency check found not yet
        /// delivered: their delivery need not ask the store again (copies of one message are
        /// processed one after the other, see IdentityGate).
        var knownNotDelivered: Set<String> = []
        /// The identity this run holds the ``IdentityGate`` for, until its records are committed.
        var gateIdentity: String?
        /// Deliveries done and not yet committed (with a combined committer: committed with the
        /// audit events at the end, or before the next delivery).
        var pendingDeliveries: [DeliveryRecord] = []
        /// Cases to register with the audit events (with a combined committer).
        var pendingCases: [CaseRecord] = []

        init(table: RoutingTable, message: Message, observer: (any ProcessingObserver)?) {
            self.table = table
            self.message = message
            self.observer = observer
        }

        var messageID: String { header?.messageID ?? message.properties.messageID ?? "unknown" }

        func event(
            _ kind: AuditEvent.Kind, route: String? = nil, detail: String? = nil, duration: Duration? = nil,
            reason: String? = nil
        ) {
            events.append(
                AuditEvent(
                    messageID: messageID, route: route ?? matchedRoute ?? "", kind: kind,
                    messageType: header?.messageType,
                    author: header?.author?.kennung, reader: header?.reader?.kennung, detail: detail,
                    durationMicroseconds: duration.map {
                        Int64($0.components.seconds) * 1_000_000 + $0.components.attoseconds / 1_000_000_000_000
                    },
                    reason: reason, attempt: message.attempt))
        }
    }

    /// A failure somewhere in a route, with where it happened.
    struct Failure {
        var kind: FailureKind
        var code: String
        var message: String
        var step: String
        var route: String

        var reason: String { "\(code): \(message)" }
    }

    enum RouteOutcome {
        case done
        case filtered(String)
        case failed(Failure)
    }

    private func deadLetter(_ run: Run, _ reason: String, step: String) -> Disposition {
        .deadLetter(reason: reason, step: step, route: run.matchedRoute, endpoint: run.table.defaultDeadLetter)
    }

    /// The header of a message (and its document, when it was parsed for the header), or the
    /// disposition that refuses it.
    private enum Classified {
        case header(MessageHeader, XMLDocument?)
        case refused(Disposition)
    }

    /// Reads the header: from a scan that builds no tree when `scanner` is given, else from the
    /// parsed document.
    private func classify(_ run: Run, scanner: HeaderScanner?) -> Classified {
        let table = run.table
        let message = run.message
        var document: XMLDocument?
        let header: MessageHeader
        do {
            if let scanner {
                header = try scanner.header(of: message.body, limits: table.parseLimits)
            } else {
                let parsed = try XMLDocument(parsing: message.body, limits: table.parseLimits)
                document = parsed
                header = try table.headerExtractor.header(of: parsed)
            }
        } catch let error as XMLError {
            run.event(.received)
            return .refused(deadLetter(run, "unparseable: \(error)", step: "parse"))
        } catch HeaderError.unrecognised(let root, let namespace) {
            run.event(.received)
            return .refused(
                deadLetter(
                    run,
                    "unknown-message-type: no header profile recognises root element '\(root)' in namespace '\(namespace ?? "(none)")'",
                    step: "header"))
        } catch {
            run.event(.received)
            return .refused(deadLetter(run, "no-header: \(error)", step: "header"))
        }
        // The message ID keys idempotency: an empty one would make unrelated messages "duplicates".
        guard !header.messageID.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            run.event(.received)
            return .refused(
                deadLetter(
                    run, "no-header: the message ID in the \(header.profile) header is empty", step: "header"))
        }
        return .header(header, document)
    }

    /// Whether the header alone classifies a message for `candidates`: no `when` reads the
    /// document, and some candidate route does not read it either (if all do, one parse serves both).
    private static func classifiesFromHeader(_ candidates: [Route], _ table: RoutingTable) -> HeaderScanner? {
        guard let scanner = table.headerScanner,
            !candidates.contains(where: { $0.condition.readsDocument }),
            candidates.isEmpty || !candidates.allSatisfy(\.readsDocument)
        else { return nil }
        return scanner
    }

    /// The first of `candidates` whose `when` holds; the disposition when a condition fails.
    private func match(_ candidates: [Route], _ context: ConditionContext, _ run: Run) -> Result<Route?, RouteRefusal> {
        for candidate in candidates {
            do {
                let holds = try candidate.condition.evaluate(context)
                run.observer?.routeEvaluated(candidate, matched: holds, header: context.header)
                if holds { return .success(candidate) }
            } catch {
                run.matchedRoute = candidate.name
                return .failure(RouteRefusal(disposition: deadLetter(run, "\(error)", step: "route")))
            }
        }
        return .success(nil)
    }

    /// A disposition that ends matching.
    private struct RouteRefusal: Error {
        var disposition: Disposition
    }

    private func route(_ run: Run, forcedRoute: String?) async -> Disposition {
        let table = run.table
        let message = run.message
        // The candidates first: whether their conditions and steps read the document decides
        // whether the message is parsed at all.
        let candidates: [Route]
        var forcedIsUnknown = false
        if let forcedRoute {
            if let forced = table.route(named: forcedRoute) {
                candidates = [forced]
            } else {
                candidates = []
                forcedIsUnknown = true
            }
        } else {
            candidates = table.routes(from: message.source)
        }
        var document: XMLDocument?
        let header: MessageHeader
        switch classify(run, scanner: Self.classifiesFromHeader(candidates, table)) {
        case .refused(let disposition): return disposition
        case .header(let read, let parsed):
            header = read
            document = parsed
        }
        run.header = header
        run.event(.received, detail: message.source)

        // Copies of one message are processed one after the other (see IdentityGate); `process`
        // leaves the gate once this copy's records are committed.
        await identityGate.enter(header.messageID)
        run.gateIdentity = header.messageID

        if forcedIsUnknown, let forcedRoute {
            return deadLetter(run, "no-route: there is no route named '\(forcedRoute)'", step: "route")
        }
        // Match a route: the first route from this endpoint whose `when` holds.
        let matched: Route?
        switch match(candidates, ConditionContext(header: header, headers: message.headers, document: document), run) {
        case .success(let route): matched = route
        case .failure(let refusal): return refusal.disposition
        }
        guard let route = matched else {
            let author = header.author?.kennung ?? "(unknown)"
            return deadLetter(
                run,
                "no-route: no route from '\(message.source)' matches message type '\(header.messageType)'"
                    + (header.messageTypeName.map { " (\($0))" } ?? "") + " from '\(author)'",
                step: "route")
        }
        run.matchedRoute = route.name
        run.event(.matched, detail: route.condition.description)
        if document == nil, route.readsDocument {
            do {
                document = try XMLDocument(parsing: message.body, limits: table.parseLimits)
            } catch {
                return deadLetter(run, "unparseable: \(error)", step: "parse")
            }
        }

        let exchange = Exchange(message: message, parsed: document, header: header, route: route.name)
        // From here on only the exchange holds the document, so dropping it there frees it.
        document = nil
        exchange.caseRegistry = cases
        // A message is authenticated before it can count as a duplicate: a tampered copy that
        // reuses a delivered message's UUID is refused by `verify` (e.g. `bad-digest`), not acked.
        let authenticated = route.steps.lastIndex(where: { $0 is VerifyStep }).map { $0 + 1 } ?? 0
        if authenticated > 0, let outcome = await runSteps(route, upTo: authenticated, exchange, run) {
            return decide(outcome, route: route, run)
        }

        // A route that registers cases runs again on a redelivery: a crash between delivery and
        // registration must not leave the case unregistered (deliveries are skipped by idempotency).
        if !route.steps.contains(where: { $0 is RegisterCaseStep }),
            allDestinationsAlreadyDelivered(route, messageID: header.messageID, run)
        {
            run.alreadyDelivered = 1
            run.event(.duplicate)
            return .duplicate
        }

        return decide(await execute(route, exchange, run, fromStep: authenticated), route: route, run)
    }

    /// The disposition for a route's outcome: completed or duplicate, filtered, retry or dead letter.
    private func decide(_ outcome: RouteOutcome, route: Route, _ run: Run) -> Disposition {
        let message = run.message
        let table = run.table
        switch outcome {
        case .done:
            if run.delivered == 0 && run.alreadyDelivered > 0 {
                run.event(.duplicate)
                return .duplicate
            }
            return .completed
        case .filtered(let reason):
            run.event(.filtered, reason: reason)
            return .filtered
        case .failed(let failure):
            // The failing step or delivery is journalled where it happened; here the decision.
            let policy = route.errorPolicy
            if policy.retry.isRetryable(kind: failure.kind, code: failure.code) {
                if message.attempt < policy.retry.maxAttempts {
                    let delay = policy.retry.delay(afterAttempt: message.attempt)
                    run.event(.retried, detail: failure.step, reason: failure.reason)
                    return .retry(
                        attempt: message.attempt + 1, delay: delay, reason: failure.reason, step: failure.step)
                }
                let reason = failure.reason + " (gave up after \(message.attempt) attempts)"
                run.event(.deadLettered, detail: failure.step, reason: reason)
                return .deadLetter(
                    reason: reason, step: failure.step, route: failure.route,
                    endpoint: policy.deadLetter ?? table.defaultDeadLetter)
            }
            run.event(.deadLettered, detail: failure.step, reason: failure.reason)
            return .deadLetter(
                reason: failure.reason, step: failure.step, route: failure.route,
                endpoint: policy.deadLetter ?? table.defaultDeadLetter)
        }
    }

    /// For a plain `to:` of endpoints only: whether every one already has the message, so a
    /// redelivery is acked without running the steps again (a re-sign would differ).
    private func allDestinationsAlreadyDelivered(_ route: Route, messageID: String, _ run: Run) -> Bool {
        guard case .to(let destinations) = route.routing, !destinations.isEmpty else { return false }
        do {
            for destination in destinations {
                guard case .endpoint(let name) = destination else { return false }
                guard try idempotency.wasDelivered(route: route.name, messageID: messageID, destination: name) else {
                    run.knownNotDelivered.insert("\(route.name)\u{1}\(name)")
                    return false
                }
            }
            return true
        } catch {
            return false
        }
    }

    /// Runs the steps of `route` before index `end` on `exchange`; `nil` if all proceeded,
    /// else the outcome that ends the route (dropped or failed).
    private func runSteps(_ route: Route, upTo end: Int, _ exchange: Exchange, _ run: Run) async -> RouteOutcome? {
        exchange.route = route.name
        for step in route.steps[..<end] {
            if let outcome = await runStep(step, route, exchange, run) { return outcome }
        }
        return nil
    }

    /// Runs `route`'s steps from index `first` on (earlier ones already ran on `exchange`), then
    /// delivers to its destinations and wire taps.
    private func execute(_ route: Route, _ exchange: Exchange, _ run: Run, fromStep first: Int = 0) async
        -> RouteOutcome
    {
        exchange.route = route.name
        for step in route.steps[first...] {
            if let outcome = await runStep(step, route, exchange, run) { return outcome }
        }
        return await deliver(route, exchange, run)
    }

    /// Runs one step; `nil` if the route goes on, else the outcome that ends it.
    private func runStep(_ step: any RouteStep, _ route: Route, _ exchange: Exchange, _ run: Run) async -> RouteOutcome?
    {
        if !step.leavesDocumentUnchanged { exchange.documentMayHaveChanged = true }
        let start = clock.now
        do {
            let outcome = try await step.run(exchange)
            let duration = clock.now - start
            run.event(.step, route: route.name, detail: step.label, duration: duration)
            run.observer?.stepFinished(
                route: route.name, step: step, outcome: outcome, failure: nil, exchange: exchange, duration: duration)
            if case .drop(let reason) = outcome { return .filtered(reason) }
            return nil
        } catch {
            let failure = (error as? StepFailure) ?? StepFailure.permanent("step-failed", "\(error)")
            let duration = clock.now - start
            run.event(.step, route: route.name, detail: step.label, duration: duration, reason: failure.description)
            run.observer?.stepFinished(
                route: route.name, step: step, outcome: nil, failure: failure, exchange: exchange, duration: duration)
            return .failed(
                Failure(
                    kind: failure.kind, code: failure.code, message: failure.message, step: step.name, route: route.name
                ))
        }
    }

    /// Delivers `exchange` to `route`'s destinations (the chosen branch's) and wire taps.
    private func deliver(_ route: Route, _ exchange: Exchange, _ run: Run) async -> RouteOutcome {
        let destinations: [Destination]
        switch route.routing {
        case .to(let list):
            destinations = list
        case .choice(let branches):
            let context = exchange.conditionContext
            var chosen: (Int, ChoiceBranch)?
            do {
                for (index, branch) in branches.enumerated() where try branch.condition?.evaluate(context) ?? true {
                    chosen = (index, branch)
                    break
                }
            } catch {
                let failure = (error as? StepFailure) ?? StepFailure.permanent("condition-failed", "\(error)")
                return .failed(
                    Failure(
                        kind: .permanent, code: failure.code, message: failure.message, step: "choice",
                        route: route.name))
            }
            run.observer?.choiceSelected(
                route: route.name, branch: chosen?.0, destinations: chosen?.1.destinations ?? [])
            guard let (_, branch) = chosen else {
                return .failed(
                    Failure(
                        kind: .permanent, code: "no-choice",
                        message: "no choice branch matched and there is no 'otherwise'", step: "choice",
                        route: route.name))
            }
            destinations = branch.destinations
        }

        // An unchanged document goes out as it came: no second serialisation, byte for byte the original.
        let body: [UInt8]
        do {
            body = exchange.documentMayHaveChanged ? try exchange.document.serialized() : exchange.message.body
        } catch {
            return .failed(
                Failure(
                    kind: .permanent, code: "serialization-failed", message: "\(error)", step: "deliver",
                    route: route.name))
        }
        // Free the document here, on the thread that parsed and processed it, not after the
        // deliveries on whichever thread resumes this task; a `route:` destination still needs it.
        if !destinations.contains(where: { if case .route = $0 { return true } else { return false } }) {
            exchange.releaseDocument()
        }

        // Deliver to every destination even if one fails, so a retry re-sends only what failed.
        var failures: [Failure] = []
        for destination in destinations {
            switch destination {
            case .endpoint(let name):
                let outgoing = OutgoingMessage(
                    body: body, headers: exchange.headers, properties: exchange.message.properties,
                    messageID: exchange.header.messageID, route: route.name)
                if let failure = await deliver(outgoing, to: name, route: route.name, run) { failures.append(failure) }
            case .directory(let role):
                let resolved = resolve(role, exchange, run.table, route: route.name)
                run.observer?.directoryResolved(
                    route: route.name, role: role, kennung: resolved.kennung, entry: resolved.entry)
                guard let entry = resolved.entry else {
                    let failure = resolved.failure
                    run.event(
                        .failed, route: route.name, detail: "deliver directory:\(role.rawValue)", reason: failure.reason
                    )
                    failures.append(failure)
                    continue
                }
                let outgoing = OutgoingMessage(
                    body: body, headers: exchange.headers, properties: exchange.message.properties,
                    messageID: exchange.header.messageID, route: route.name)
                if let failure = await deliver(outgoing, to: entry.endpoint, route: route.name, run) {
                    failures.append(failure)
                }
            case .route(let name):
                guard let target = run.table.route(named: name) else {
                    failures.append(
                        Failure(
                            kind: .permanent, code: "no-route", message: "unknown route '\(name)'", step: "deliver",
                            route: route.name))
                    continue
                }
                let forked: Exchange
                do {
                    forked = try exchange.fork(route: name)
                } catch {
                    failures.append(
                        Failure(
                            kind: .permanent, code: "copy-failed", message: "\(error)", step: "deliver",
                            route: route.name))
                    continue
                }
                switch await execute(target, forked, run) {
                case .done: break
                case .filtered(let reason): run.event(.filtered, route: name, reason: reason)
                case .failed(let failure): failures.append(failure)
                }
            }
        }

        for tap in route.wireTaps {
            let copy = OutgoingMessage(
                body: exchange.message.body, headers: exchange.message.headers, properties: exchange.message.properties,
                messageID: exchange.header.messageID, route: route.name, isWireTap: true)
            if let failure = await deliver(copy, to: tap, route: route.name, run, key: "wire-tap:\(tap)") {
                // Best effort: visible in the journal (`failed`, "wire-tap NAME") and the log, but
                // the main delivery stands.
                logger.warning(
                    "wire tap failed",
                    metadata: [
                        "route": "\(route.name)", "endpoint": "\(tap)", "message_id": "\(run.messageID)",
                        "reason": "\(failure.reason)",
                    ])
            }
        }

        if let permanent = failures.first(where: { $0.kind == .permanent }) { return .failed(permanent) }
        if let first = failures.first { return .failed(first) }
        return registerCases(of: exchange, route: route.name, run)
    }

    /// Writes the cases `register-case` steps collected — after every delivery of the route
    /// succeeded, before the message is acked. A registry failure is transient: the retry
    /// skips the deliveries already made and registers again (an upsert).
    private func registerCases(of exchange: Exchange, route: String, _ run: Run) -> RouteOutcome {
        if combined != nil {
            // Registered with the message's other records, in one transaction (see `finish`).
            for record in exchange.pendingCases {
                run.pendingCases.append(record)
                run.event(.step, route: route, detail: "case registered \(record.key)")
            }
            return .done
        }
        for record in exchange.pendingCases {
            do {
                try cases.register(key: record.key, case: record)
            } catch {
                run.event(
                    .failed, route: route, detail: "register-case \(record.key)", reason: "case-registry: \(error)")
                return .failed(
                    Failure(
                        kind: .transient, code: "case-registry", message: "registering case '\(record.key)': \(error)",
                        step: "register-case", route: route))
            }
            run.event(.step, route: route, detail: "case registered \(record.key)")
        }
        return .done
    }

    /// The address directory entry for the header's reader or author.
    private func resolve(_ role: DirectoryRole, _ exchange: Exchange, _ table: RoutingTable, route: String)
        -> (kennung: String?, entry: AddressEntry?, failure: Failure)
    {
        let authority = role == .reader ? exchange.header.reader : exchange.header.author
        guard let kennung = authority?.kennung, !kennung.isEmpty else {
            let failure = Failure(
                kind: .permanent, code: "unknown-recipient",
                message: "the message header names no \(role.rawValue) to look up in the address directory",
                step: "deliver", route: route)
            return (nil, nil, failure)
        }
        let failure = Failure(
            kind: .permanent, code: "unknown-recipient",
            message: "no address directory entry for \(role.rawValue) '\(kennung)' — add it to 'address-directory:'",
            step: "deliver", route: route)
        return (kennung, table.addressDirectory.entry(for: kennung), failure)
    }

    /// Delivers to one endpoint unless the idempotency store says it already has the message;
    /// records the delivery once it is durable. Returns the failure, if any.
    private func deliver(_ outgoing: OutgoingMessage, to name: String, route: String, _ run: Run, key: String? = nil)
        async -> Failure?
    {
        let key = key ?? name
        let step = outgoing.isWireTap ? "wire-tap" : "deliver"
        guard let endpoint = run.table.endpoints[name] else {
            return Failure(
                kind: .permanent, code: "no-endpoint", message: "unknown endpoint '\(name)'", step: step, route: route)
        }
        // An earlier delivery's record is durable before the next delivery starts (a crash then
        // costs at most one duplicate, as with a record per delivery) and before its check.
        if let failure = await commitPendingDeliveries(run, step: step, route: route) { return failure }
        do {
            if run.knownNotDelivered.remove("\(route)\u{1}\(key)") == nil,
                try idempotency.wasDelivered(route: route, messageID: outgoing.messageID, destination: key)
            {
                run.alreadyDelivered += 1
                run.observer?.delivery(outgoing, to: name, result: .alreadyDelivered)
                return nil
            }
        } catch {
            return Failure(kind: .transient, code: "idempotency-store", message: "\(error)", step: step, route: route)
        }
        do {
            try await sink.deliver(outgoing, to: endpoint)
        } catch {
            let delivery = (error as? DeliveryError) ?? DeliveryError.transient("delivery-failed", "\(error)")
            run.observer?.delivery(outgoing, to: name, result: .failed(delivery.description))
            run.event(.failed, route: route, detail: "\(step) \(name)", reason: delivery.description)
            return Failure(
                kind: delivery.kind, code: delivery.code, message: "\(name): \(delivery.message)", step: step,
                route: route)
        }
        if combined != nil {
            // Committed with the message's audit events (`finish`), or before the next delivery.
            run.pendingDeliveries.append(
                DeliveryRecord(route: route, messageID: outgoing.messageID, destination: key, at: Date()))
        } else {
            do {
                try await idempotency.recordDelivered(
                    route: route, messageID: outgoing.messageID, destination: key, at: Date())
            } catch {
                // Delivered but not recorded: a retry may send one duplicate downstream.
                return Failure(
                    kind: .transient, code: "idempotency-store", message: "\(error)", step: step, route: route)
            }
        }
        if !outgoing.isWireTap { run.delivered += 1 }
        run.event(.delivered, route: route, detail: outgoing.isWireTap ? "wire-tap \(name)" : name)
        run.observer?.delivery(outgoing, to: name, result: .delivered)
        return nil
    }

    /// Commits the deliveries not yet committed (with a combined committer); the failure, if
    /// they cannot be (then they are dropped: a retry delivers them again).
    private func commitPendingDeliveries(_ run: Run, step: String, route: String) async -> Failure? {
        guard let combined, !run.pendingDeliveries.isEmpty else { return nil }
        let deliveries = run.pendingDeliveries
        run.pendingDeliveries = []
        do {
            try await combined.commit(MessageRecords(deliveries: deliveries))
            return nil
        } catch {
            return Failure(kind: .transient, code: "idempotency-store", message: "\(error)", step: step, route: route)
        }
    }

    /// Commits the run's records — with a combined committer its pending deliveries, cases and
    /// audit events in one transaction, else the audit events — and logs the outcome. Deliveries
    /// or cases that cannot be committed fail the message as a transient store failure (retry
    /// or dead letter, as the route's `on-error` says); a journal failure on a completed message
    /// asks for a retry while attempts remain (the idempotency store makes the retry cheap).
    private func finish(_ run: Run, _ disposition: Disposition) async -> Disposition {
        var disposition = disposition
        if case .deadLetter(let reason, let step, _, _) = disposition,
            !run.events.contains(where: { $0.kind == .deadLettered })
        {
            run.event(.deadLettered, detail: step, reason: reason)
        }
        if let combined {
            let records = MessageRecords(deliveries: run.pendingDeliveries, cases: run.pendingCases, events: run.events)
            run.pendingDeliveries = []
            run.pendingCases = []
            do {
                try await combined.commit(records)
                return log(run, disposition)
            } catch  where !records.deliveries.isEmpty || !records.cases.isEmpty {
                disposition = recordsFailed(run, disposition, records, error)
                // The outcome is journalled on its own (the events went with the failed transaction).
                do {
                    try await journal.record(run.events)
                } catch {
                    logger.error(
                        "audit journal failed", metadata: ["message_id": "\(run.messageID)", "error": "\(error)"])
                }
                return log(run, disposition)
            } catch {
                return log(run, journalFailed(run, disposition, error))
            }
        }
        do {
            try await journal.record(run.events)
        } catch {
            disposition = journalFailed(run, disposition, error)
        }
        return log(run, disposition)
    }

    /// The disposition when a message's deliveries or cases could not be committed: a transient
    /// failure of the store (`idempotency-store` / `case-registry`) for a message that was
    /// otherwise done; a retry or dead letter stays what it was.
    private func recordsFailed(_ run: Run, _ disposition: Disposition, _ records: MessageRecords, _ error: any Error)
        -> Disposition
    {
        switch disposition {
        case .completed, .duplicate, .filtered: break
        default: return disposition
        }
        guard let name = run.matchedRoute, let route = run.table.route(named: name) else { return disposition }
        let failure =
            records.deliveries.isEmpty
            ? Failure(
                kind: .transient, code: "case-registry", message: "registering cases: \(error)", step: "register-case",
                route: name)
            : Failure(kind: .transient, code: "idempotency-store", message: "\(error)", step: "deliver", route: name)
        run.event(.failed, route: name, detail: failure.step, reason: failure.reason)
        return decide(.failed(failure), route: route, run)
    }

    /// The disposition after the audit journal failed: a completed message is retried while
    /// attempts remain; anything else stays.
    private func journalFailed(_ run: Run, _ disposition: Disposition, _ error: any Error) -> Disposition {
        logger.error("audit journal failed", metadata: ["message_id": "\(run.messageID)", "error": "\(error)"])
        guard disposition == .completed, let route = run.matchedRoute.flatMap(run.table.route(named:)),
            run.message.attempt < route.errorPolicy.retry.maxAttempts
        else { return disposition }
        return .retry(
            attempt: run.message.attempt + 1, delay: route.errorPolicy.retry.delay(afterAttempt: run.message.attempt),
            reason: "audit-journal: \(error)", step: "audit")
    }

    /// Logs the outcome of `run` and returns `disposition`.
    private func log(_ run: Run, _ disposition: Disposition) -> Disposition {
        switch disposition {
        case .deadLetter(let reason, let step, let route, _):
            logger.warning(
                "dead letter",
                metadata: [
                    "message_id": "\(run.messageID)", "route": "\(route ?? "-")", "step": "\(step)",
                    "reason": "\(reason)",
                ])
        case .retry(let attempt, let delay, let reason, let step):
            logger.info(
                "retry",
                metadata: [
                    "message_id": "\(run.messageID)", "attempt": "\(attempt)", "delay": "\(delay)", "step": "\(step)",
                    "reason": "\(reason)",
                ])
        default:
            logger.debug("processed", metadata: ["message_id": "\(run.messageID)", "disposition": "\(disposition)"])
        }
        return disposition
    }
}
