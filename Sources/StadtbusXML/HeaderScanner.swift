internal import CLibXML
internal import CXMLShim
public import Foundation

/// Reads a message's header like ``HeaderExtractor``, without building the message's tree.
///
/// libxml2 parses the bytes with the same guards as ``XMLDocument/init(parsing:limits:)`` (the
/// linear pre-scan of ``XMLParseLimits`` over the whole message first, no DTD, no network, bounded
/// depth) but builds only the root element and those of its children that a header profile
/// reads (`nachrichtenkopf.g2g`, xdomea's `Kopf`, …). After each such child ends, the profiles'
/// expressions are evaluated on what is built; once the header is certain, parsing stops and the
/// partial tree is freed on the calling thread. The result equals ``HeaderExtractor``'s on the
/// whole document: a field counts as found only where the first match in document order is
/// already built, and a field not (yet) found, or a profile not (yet) detected, keeps the scan
/// reading, to the end of the document if need be.
///
/// What is not read is not checked: a document whose header is complete is classified even if
/// its tail is not well-formed. A route that reads the document parses it in full and refuses it
/// then.
///
/// Only profiles whose expressions are plain child paths from the root (`/*/a:b/c`, at least two
/// steps, no predicates) or name functions of the root (`local-name(/*)`) can be scanned; the
/// built-in ones all are. ``init(profiles:)`` returns `nil` for other profiles.
public final class HeaderScanner: Sendable {
    /// One expression of a profile, compiled as ``HeaderExtractor`` compiles it.
    private struct Field: Sendable {
        let expression: XPathExpression
        /// Reads only the root element's name: known as soon as the root is.
        let rootOnly: Bool
    }

    private struct CompiledAuthority: Sendable {
        let kennung: Field
        let directory: Field?
        let name: Field?
    }

    private struct Compiled: Sendable {
        let profile: HeaderProfile
        let detect: XPathExpression
        let identity: [Field]
        let messageType: Field
        let messageTypeName: Field?
        let createdAt: Field?
        let author: CompiledAuthority?
        let reader: CompiledAuthority?
    }

    private let specific: [String: [Compiled]]
    private let generic: [Compiled]
    private let spec: ScanSpec

    /// Compiles `profiles` for scanning (in the order ``HeaderExtractor`` tries them); `nil` when
    /// one of them uses an expression a scan cannot answer early (see the type's documentation).
    /// - Throws: ``XMLError/invalidXPath(expression:message:)`` for a bad expression.
    public init?(profiles: [HeaderProfile] = HeaderProfile.builtIn) throws {
        var children: [ChildName] = []
        var specific: [String: [Compiled]] = [:]
        var generic: [Compiled] = []
        for profile in profiles {
            let ns = profile.namespaces
            func shape(_ expression: String) -> Shape? {
                let shape = Self.shape(of: expression, namespaces: ns)
                if case .child(let name) = shape, !children.contains(name) { children.append(name) }
                return shape
            }
            func field(_ expression: String) throws -> Field? {
                guard let shape = shape(expression) else { return nil }
                _ = try XPathExpression(expression, namespaces: ns)
                return Field(
                    expression: try XPathExpression("normalize-space(\(expression))", namespaces: ns),
                    rootOnly: shape == .rootOnly)
            }
            func optional(_ expression: String?) throws -> Field?? {
                guard let expression else { return .some(nil) }
                guard let compiled = try field(expression) else { return nil }
                return .some(compiled)
            }
            func authority(_ paths: HeaderProfile.AuthorityPaths?) throws -> CompiledAuthority?? {
                guard let paths else { return .some(nil) }
                guard let kennung = try field(paths.kennung), let directory = try optional(paths.directory),
                    let name = try optional(paths.name)
                else { return nil }
                return .some(CompiledAuthority(kennung: kennung, directory: directory, name: name))
            }
            guard shape(profile.detect) != nil, let messageType = try field(profile.messageType),
                let messageTypeName = try optional(profile.messageTypeName),
                let createdAt = try optional(profile.createdAt), let author = try authority(profile.author),
                let reader = try authority(profile.reader)
            else { return nil }
            var identity: [Field] = []
            for expression in profile.identity {
                guard let compiled = try field(expression) else { return nil }
                identity.append(compiled)
            }
            _ = try XPathExpression(profile.detect, namespaces: ns)
            let compiled = Compiled(
                profile: profile, detect: try XPathExpression("boolean(\(profile.detect))", namespaces: ns),
                identity: identity, messageType: messageType, messageTypeName: messageTypeName, createdAt: createdAt,
                author: author, reader: reader)
            if profile.rootNamespaces.isEmpty {
                generic.append(compiled)
            } else {
                for namespace in profile.rootNamespaces { specific[namespace, default: []].append(compiled) }
            }
        }
        guard let spec = ScanSpec(children) else { return nil }
        self.specific = specific
        self.generic = generic
        self.spec = spec
    }

    /// Reads the header of the untrusted document `bytes` under `limits`.
    /// - Throws: ``XMLError`` when the document is refused (limits, DOCTYPE, not well-formed
    ///   where it was read), ``HeaderError`` as ``HeaderExtractor/header(of:)`` does.
    public func header<Bytes: ContiguousBytes>(of bytes: Bytes, limits: XMLParseLimits = .default) throws
        -> MessageHeader
    {
        XMLLibrary.initialize()
        let scan = Scan(scanner: self)
        var result = stadtbus_parse_result()
        try bytes.withUnsafeBytes { buffer in
            guard buffer.count > 0, let base = buffer.baseAddress else { throw XMLError.emptyDocument }
            guard buffer.count <= limits.maxBytes, buffer.count <= Int(Int32.max) else {
                throw XMLError.documentTooLarge(bytes: buffer.count, limit: limits.maxBytes)
            }
            try XMLPreScan.check(buffer, limits: limits)
            let check: stadtbus_header_scan_check = { context, partial, atEnd in
                guard let context, let partial else { return 1 }
                let scan = Unmanaged<Scan>.fromOpaque(context).takeUnretainedValue()
                return scan.scanner.check(partial, atEnd: atEnd != 0, scan) ? 1 : 0
            }
            withExtendedLifetime(scan) {
                stadtbus_parse_header_scan(
                    base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), Int32(min(limits.maxDepth, 256)),
                    spec.pointer, check, Unmanaged.passUnretained(scan).toOpaque(), &result)
            }
        }
        if result.refusal != STADTBUS_PARSE_OK { throw XMLDocument.error(from: &result, limits: limits) }
        guard let outcome = scan.outcome else {
            throw HeaderError.unrecognised(rootElement: "(none)", namespace: nil)
        }
        return try outcome.get()
    }

    /// The state of one scan: what the check decided.
    private final class Scan {
        let scanner: HeaderScanner
        var outcome: Result<MessageHeader, HeaderError>?
        init(scanner: HeaderScanner) { self.scanner = scanner }
    }

    /// Whether the header is certain on `partial` (then `scan.outcome` is set).
    private func check(_ partial: xmlDocPtr, atEnd: Bool, _ scan: Scan) -> Bool {
        guard let root = xmlDocGetRootElement(partial) else {
            if atEnd { scan.outcome = .failure(.unrecognised(rootElement: "(none)", namespace: nil)) }
            return atEnd
        }
        let namespace = root.pointee.ns?.pointee.href.map { String(cString: $0) }
        let candidates = (namespace.flatMap { specific[$0] } ?? []) + generic
        for candidate in candidates {
            guard let context = xmlXPathNewContext(partial) else { continue }
            defer { xmlXPathFreeContext(context) }
            for (prefix, uri) in candidate.profile.namespaces { xmlXPathRegisterNs(context, prefix, uri) }
            let detected = (try? candidate.detect.evaluate(in: context).booleanValue) == true
            guard detected else {
                // Detected later in the document, the profile would still come first.
                if atEnd { continue }
                return false
            }
            let rootElement = String(cString: root.pointee.name)
            let read = Result { () throws(ReadStop) -> MessageHeader in
                try self.read(candidate, context, atEnd: atEnd, rootElement: rootElement, namespace: namespace)
            }
            switch read {
            case .success(let header): scan.outcome = .success(header)
            case .failure(.incomplete): return false
            case .failure(.header(let error)): scan.outcome = .failure(error)
            }
            return true
        }
        guard atEnd else { return false }
        scan.outcome = .failure(.unrecognised(rootElement: String(cString: root.pointee.name), namespace: namespace))
        return true
    }

    private enum ReadStop: Error {
        /// A field is not found in what is built yet: read on.
        case incomplete
        case header(HeaderError)
    }

    /// ``HeaderExtractor``'s reading, field for field and in the same order.
    private func read(
        _ compiled: Compiled, _ context: xmlXPathContextPtr, atEnd: Bool, rootElement: String, namespace: String?
    ) throws(ReadStop) -> MessageHeader {
        let profile = compiled.profile.name
        func value(_ field: String, _ compiledField: Field) throws(ReadStop) -> String? {
            let text: String?
            do {
                text = Self.text(of: try compiledField.expression.evaluate(in: context))
            } catch {
                throw .header(.evaluationFailed(profile: profile, field: field, message: "\(error)"))
            }
            if text == nil, !atEnd, !compiledField.rootOnly { throw .incomplete }
            return text
        }
        func required(_ field: String, _ compiledField: Field) throws(ReadStop) -> String {
            guard let text = try value(field, compiledField) else {
                throw .header(
                    .missingField(profile: profile, field: field, xpath: compiledField.expression.expression))
            }
            return text
        }
        func optional(_ field: String, _ compiledField: Field?) throws(ReadStop) -> String? {
            guard let compiledField else { return nil }
            return try value(field, compiledField)
        }
        func authority(_ field: String, _ paths: CompiledAuthority?) throws(ReadStop) -> Authority? {
            guard let paths, let kennung = try value("\(field).kennung", paths.kennung) else { return nil }
            return Authority(
                kennung: kennung, directory: try optional("\(field).directory", paths.directory),
                name: try optional("\(field).name", paths.name))
        }
        var parts: [String] = []
        for (index, field) in compiled.identity.enumerated() {
            parts.append(try required(index == 0 ? "identity" : "identity[\(index)]", field))
        }
        let identity = parts.joined(separator: "/")
        let identityBytes = identity.utf8.count
        guard identityBytes <= MessageHeader.maximumIdentityBytes else {
            throw .header(
                .identityTooLong(profile: profile, bytes: identityBytes, limit: MessageHeader.maximumIdentityBytes))
        }
        return MessageHeader(
            profile: profile,
            messageID: identity,
            messageType: try required("messageType", compiled.messageType),
            messageTypeName: try optional("messageTypeName", compiled.messageTypeName),
            createdAt: try optional("createdAt", compiled.createdAt),
            author: try authority("author", compiled.author),
            reader: try authority("reader", compiled.reader),
            rootElement: rootElement,
            rootNamespace: namespace)
    }

    /// ``XPathEvaluator/string(_:)``'s reading of a value. The values are `normalize-space`d
    /// already; Foundation's trimming (which also removes non-ASCII spaces) runs only when the
    /// value does not start and end with a visible ASCII character.
    private static func text(of value: XPathValue) -> String? {
        if case .nodes(let nodes) = value, nodes.isEmpty { return nil }
        let string = value.stringValue
        func visibleASCII(_ byte: UInt8?) -> Bool { byte.map { $0 > 0x20 && $0 < 0x7F } ?? false }
        if visibleASCII(string.utf8.first), visibleASCII(string.utf8.last) { return string }
        let text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    // MARK: - Which expressions a scan can answer

    private struct ChildName: Equatable {
        var namespace: String?
        var local: String
    }

    private enum Shape: Equatable {
        /// `local-name(/*)`, `name(/*)`, `namespace-uri(/*)`.
        case rootOnly
        /// `/ROOT/CHILD/…`: reads below the root's children named CHILD.
        case child(ChildName)
    }

    /// What `expression` reads, or `nil` when it is not one of the two shapes a scan answers.
    private static func shape(of expression: String, namespaces: XMLNamespaces) -> Shape? {
        let compact = expression.filter { !$0.isWhitespace }
        if ["local-name(/*)", "name(/*)", "namespace-uri(/*)"].contains(compact) { return .rootOnly }
        guard compact.hasPrefix("/"), !compact.hasPrefix("//") else { return nil }
        let steps = compact.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard steps.count >= 2, steps[0] == "*" || isQName(steps[0]), steps.dropFirst().allSatisfy(isQName) else {
            return nil
        }
        let child = steps[1]
        if let colon = child.firstIndex(of: ":") {
            guard let uri = namespaces[String(child[..<colon])] else { return nil }
            return .child(ChildName(namespace: uri, local: String(child[child.index(after: colon)...])))
        }
        return .child(ChildName(namespace: nil, local: String(child)))
    }

    /// `prefix:local` or `local`, each an ASCII XML name (anything else is left to the full parse).
    private static func isQName(_ step: Substring) -> Bool {
        let parts = step.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            guard let first = part.first, first.isASCII, first.isLetter || first == "_" else { return false }
            return part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
        }
    }

    /// The C side's list of the root's children to build. Immutable once made; the C scan only
    /// reads it, so one spec serves scans on any number of threads.
    private final class ScanSpec: @unchecked Sendable {
        let pointer: OpaquePointer

        init?(_ names: [ChildName]) {
            guard let pointer = stadtbus_header_scan_spec_create() else { return nil }
            self.pointer = pointer
            for name in names where stadtbus_header_scan_spec_add(pointer, name.namespace, name.local) == 0 {
                return nil
            }
        }

        deinit {
            stadtbus_header_scan_spec_free(pointer)
        }
    }
}
