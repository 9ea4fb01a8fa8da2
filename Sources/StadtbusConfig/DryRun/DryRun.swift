import Foundation
import Logging
import StadtbusCore
import StadtbusXML

/// `stadtbus dry-run`: runs one route offline — in-memory sinks and stores, no broker,
/// nothing delivered — and reports the matched condition, each step's result (documents
/// after `map` steps), and what would be delivered where, or the dead-letter reason.
public enum DryRun {
    /// Runs `route` of the configuration at `config` on the message in `messagePath`.
    /// - Parameters:
    ///   - headers: transport headers as `NAME=VALUE`.
    ///   - maxLines: how many lines of each document to show (`Int.max` for all).
    ///   - loader: the loader to use; its `sign` and `verify` steps are replaced by dry-run ones
    ///     (no private key is touched, no signature checked), so a dry run needs no signature module.
    ///   - cases: where `correlate` looks cases up (e.g. the service's store opened read-only, or
    ///     an ``InMemoryCaseRegistry`` seeded with test cases); registrations are written to it only
    ///     in memory — pass an in-memory registry unless you want them kept. Default: empty, so
    ///     every `correlate` reports `unknown-case`.
    /// - Returns: the report, and the disposition (`nil` when the config, route or message is unusable).
    public static func run(
        config: String, route: String, messagePath: String, headers: [String] = [], maxLines: Int = 15,
        loader: ConfigurationLoader = ConfigurationLoader(), cases: any CaseRegistry = InMemoryCaseRegistry()
    ) async -> (text: String, disposition: Disposition?) {
        var loader = loader
        loader.steps.register(SignStepFactory { key in DryRunSigner(key: key.name) })
        loader.steps.register(VerifyStepFactory { _, _, _ in DryRunVerifier() })
        let loaded: LoadedConfiguration
        do {
            loaded = try loader.load(path: config)
        } catch let error as ConfigurationError {
            return ("configuration has errors:\n\(error)\n", nil)
        } catch {
            return ("configuration did not load: \(error)\n", nil)
        }
        guard let definition = loaded.table.route(named: route) else {
            let names = loaded.table.routes.map(\.name).joined(separator: ", ")
            return ("no route named '\(route)' — routes: \(names)\n", nil)
        }
        guard let body = FileManager.default.contents(atPath: messagePath) else {
            return ("cannot read message file '\(messagePath)'\n", nil)
        }
        var transportHeaders: [String: String] = [:]
        for header in headers {
            let parts = header.split(separator: "=", maxSplits: 1).map(String.init)
            transportHeaders[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let sink = RecordingSink()
        var quiet = Logger(label: "stadtbus.dry-run")
        quiet.logLevel = .critical  // the report says everything the log would
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal(),
            cases: cases,
            logger: quiet)
        let report = DryRunReport(maxLines: maxLines)
        report.line("dry run of route '\(route)' on \(messagePath) (\(body.count) bytes) — nothing is delivered")
        let inbound = Message(
            body: Array(body), headers: transportHeaders, properties: MessageProperties(contentType: "application/xml"),
            source: definition.source ?? "dry-run")
        if let input = try? XMLDocument(parsing: Array(body), limits: loaded.table.parseLimits) { report.input(input) }
        let disposition = await engine.process(inbound, route: route, observer: report)
        report.line("")
        switch disposition {
        case .completed:
            report.line("result: completed — would deliver:")
            for (endpoint, outgoing) in sink.deliveries {
                let headerText = outgoing.headers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: ", ")
                report.line(
                    "  → \(endpoint)\(outgoing.isWireTap ? " (wire tap, inbound body)" : "") [route \(outgoing.route)]: \(outgoing.body.count) bytes"
                        + (headerText.isEmpty ? "" : "; headers: \(headerText)"))
            }
        case .duplicate: report.line("result: duplicate — every destination already had this message")
        case .filtered: report.line("result: filtered — the message would be dropped (acked, not delivered)")
        case .retry(let attempt, let delay, let reason, let step):
            report.line("result: retry (attempt \(attempt) after \(delay)) — step \(step): \(reason)")
        case .deadLetter(let reason, let step, let route, let endpoint):
            report.line(
                "result: DEAD LETTER\(endpoint.map { " to \($0)" } ?? "") — route \(route ?? "-"), step \(step):")
            report.line("  \(reason)")
        }
        return (report.text, disposition)
    }
}

/// Prints each event of a dry run.
final class DryRunReport: ProcessingObserver {
    private(set) var text = ""
    private var stepNumber = 0
    /// The document last shown (the input first; a `route:` destination continues from its caller's).
    private var lastShown: String?
    private var pendingInput: String?
    let maxLines: Int

    init(maxLines: Int) { self.maxLines = maxLines }

    func line(_ string: String) { text += string + "\n" }

    func routeEvaluated(_ route: Route, matched: Bool, header: MessageHeader) {
        line(
            "message: \(header.messageID) — type \(header.messageType)"
                + (header.messageTypeName.map { " (\($0))" } ?? "")
                + ", profile \(header.profile), author \(header.author?.kennung ?? "-"), reader \(header.reader?.kennung ?? "-")"
        )
        line("when: \(route.condition) → \(matched ? "matched" : "NOT matched")")
        if let pendingInput {
            line("input:")
            document(pendingInput)
            lastShown = pendingInput
            self.pendingInput = nil
        }
    }

    func stepFinished(
        route: String, step: any RouteStep, outcome: StepOutcome?, failure: StepFailure?, exchange: Exchange,
        duration: Duration
    ) {
        stepNumber += 1
        let status: String
        if let failure {
            status = "FAILED (\(failure.kind.rawValue)) — \(failure)"
        } else if case .drop(let reason)? = outcome {
            status = "dropped — \(reason)"
        } else {
            status = "ok"
        }
        line(
            "step \(stepNumber) [\(route)] \(step.label): \(status) (\(duration.formatted(.units(allowed: [.milliseconds, .microseconds], width: .narrow))))"
        )
        if step.name == "set-header" {
            for (name, value) in exchange.headers.sorted(by: { $0.key < $1.key }) { line("    \(name): \(value)") }
        }
        if step.name == "correlate", failure == nil, let found = exchange.correlatedCase {
            let attributes = found.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: ", ")
            line(
                "    case '\(found.key)' (registered by route \(found.route))"
                    + (attributes.isEmpty ? "" : ": \(attributes)"))
        }
        if step.name == "register-case" && failure == nil {
            for record in exchange.pendingCases { line("    would register case '\(record.key)' after delivery") }
        }
        if step.name == "sign" && failure == nil {
            line("    (dry run: no private key is used; the document is not actually signed)")
        }
        if failure == nil, maxLines > 0 {
            let text = (try? exchange.document.serializedString()) ?? ""
            if text == lastShown {
                line("    (document unchanged)")
            } else {
                document(text)
                lastShown = text
            }
        }
    }

    func choiceSelected(route: String, branch: Int?, destinations: [Destination]) {
        if let branch {
            line("choice [\(route)]: branch \(branch + 1) → " + destinations.map(\.description).joined(separator: ", "))
        } else {
            line("choice [\(route)]: no branch matched")
        }
    }

    func delivery(_ message: OutgoingMessage, to endpoint: String, result: DeliveryResult) {}

    func directoryResolved(route: String, role: DirectoryRole, kennung: String?, entry: AddressEntry?) {
        let who = kennung.map { "'\($0)'" } ?? "(none in the header)"
        if let entry {
            line(
                "directory [\(route)]: \(role.rawValue) \(who) → \(entry.endpoint)"
                    + (entry.name.map { " (\($0))" } ?? ""))
        } else {
            line("directory [\(route)]: \(role.rawValue) \(who) → NOT in the address directory")
        }
    }

    /// The inbound document, shown after the route's condition; later steps show theirs only
    /// when it changed.
    func input(_ document: XMLDocument) {
        guard maxLines > 0 else { return }
        pendingInput = try? document.serializedString()
    }

    private func document(_ text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        let width = maxLines == Int.max ? Int.max : 160
        for line in lines.prefix(maxLines) {
            self.line("    | " + (line.count > width ? line.prefix(width) + " …" : line))
        }
        if lines.count > maxLines { line("    | … \(lines.count - maxLines) more lines (use --full)") }
    }
}

/// Dry run: signing is shown but not performed (no private key is touched).
struct DryRunSigner: MessageSigner {
    let key: String
    func sign(document: XMLDocument) throws {}
}

/// Dry run: signatures are not checked.
struct DryRunVerifier: SignatureVerifier {
    func verify(document: XMLDocument, header: MessageHeader) throws {}
}
