import StadtbusXML

/// The state of one message while a route runs: the inbound message, the one parsed
/// document that every step reads and replaces, its header and the outgoing transport headers.
///
/// Belongs to one `process` call; never shared between tasks.
public final class Exchange {
    /// The inbound message as received.
    public let message: Message
    /// The current document (steps such as `map` replace it).
    ///
    /// Every route that reads the document (``Route/readsDocument``) gets one; the engine keeps
    /// none for a route that does not (it forwards the inbound bytes), and drops it once the
    /// outgoing body is serialised, so that it is freed on the thread that built it.
    public var document: XMLDocument {
        get {
            guard let storedDocument else {
                preconditionFailure("route '\(route)' reads the document, but the engine parsed none (engine bug)")
            }
            return storedDocument
        }
        set { storedDocument = newValue }
    }
    private(set) var storedDocument: XMLDocument?
    /// Whether a step that may change the document ran (see ``RouteStep/leavesDocumentUnchanged``).
    /// While false, the engine delivers the inbound bytes as they came.
    public internal(set) var documentMayHaveChanged = false
    /// The header read from the inbound document.
    public let header: MessageHeader
    /// Outgoing transport headers: the inbound ones plus those set by `set-header`.
    public var headers: [String: String]
    /// The route currently running.
    public internal(set) var route: String
    /// The case found by a `correlate` step: `{case.NAME}` templates and `case:` conditions read it.
    public internal(set) var correlatedCase: CaseRecord?
    /// Cases `register-case` steps collected. The engine writes them to the ``CaseRegistry``
    /// only after every delivery of the route succeeded (a step itself stays pure).
    public internal(set) var pendingCases: [CaseRecord] = []
    /// The registry `correlate` steps look cases up in (set by the engine).
    var caseRegistry: (any CaseRegistry)?

    public convenience init(message: Message, document: XMLDocument, header: MessageHeader, route: String) {
        self.init(message: message, parsed: document, header: header, route: route)
    }

    /// An exchange whose document is `parsed`, or none for a route that does not read it.
    init(message: Message, parsed document: XMLDocument?, header: MessageHeader, route: String) {
        self.message = message
        self.storedDocument = document
        self.header = header
        self.headers = message.headers
        self.route = route
    }

    /// A copy with its own document, for a route-to-route destination.
    func fork(route: String) throws -> Exchange {
        let copy = Exchange(message: message, parsed: try storedDocument?.copy(), header: header, route: route)
        copy.headers = headers
        copy.documentMayHaveChanged = documentMayHaveChanged
        copy.correlatedCase = correlatedCase
        copy.caseRegistry = caseRegistry
        // pendingCases stay with this exchange: they become durable after its route's deliveries.
        return copy
    }

    /// Collects `record` for registration after delivery; a key collected twice keeps the last.
    func collect(_ record: CaseRecord) {
        pendingCases.removeAll { $0.key == record.key }
        pendingCases.append(record)
    }

    /// What conditions (`filter`, `choice`) read now.
    public var conditionContext: ConditionContext {
        ConditionContext(header: header, headers: headers, document: storedDocument, correlatedCase: correlatedCase)
    }

    /// Drops the document (the engine does once the outgoing body is serialised).
    func releaseDocument() {
        storedDocument = nil
    }
}
