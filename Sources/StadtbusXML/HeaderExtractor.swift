import Foundation

/// Reads ``MessageHeader``s using a list of ``HeaderProfile``s, compiled once.
///
/// Profiles whose ``HeaderProfile/rootNamespaces`` name the document's namespace are tried
/// first (in order), then the namespace-independent ones; the first whose `detect`
/// expression matches is used. Sendable: one extractor serves all workers.
public final class HeaderExtractor: Sendable {
    private struct CompiledAuthority: Sendable {
        let kennung: XPathExpression
        let directory: XPathExpression?
        let name: XPathExpression?
    }

    private struct Compiled: Sendable {
        let profile: HeaderProfile
        let detect: XPathExpression
        let identity: [XPathExpression]
        let messageType: XPathExpression
        let messageTypeName: XPathExpression?
        let createdAt: XPathExpression?
        let author: CompiledAuthority?
        let reader: CompiledAuthority?
    }

    private let specific: [String: [Compiled]]
    private let generic: [Compiled]

    /// The profiles in the order they are tried for a namespace-independent match.
    public let profiles: [HeaderProfile]

    /// Compiles `profiles` (configuration-supplied ones first, so they can override
    /// built-ins for a namespace).
    /// - Throws: ``XMLError/invalidXPath(expression:message:)`` for a bad expression.
    public init(profiles: [HeaderProfile] = HeaderProfile.builtIn) throws {
        var specific: [String: [Compiled]] = [:]
        var generic: [Compiled] = []
        for profile in profiles {
            let ns = profile.namespaces
            // Fields are read as scalars: libxml2 computes the (whitespace-normalised) string
            // value itself instead of handing back node-sets whose text we would copy and trim.
            func wrapped(_ expression: String, in function: String) throws -> XPathExpression {
                _ = try XPathExpression(expression, namespaces: ns)  // reports errors against the text as written
                return try XPathExpression("\(function)(\(expression))", namespaces: ns)
            }
            func compile(_ expression: String) throws -> XPathExpression {
                try wrapped(expression, in: "normalize-space")
            }
            func authority(_ paths: HeaderProfile.AuthorityPaths?) throws -> CompiledAuthority? {
                guard let paths else { return nil }
                return CompiledAuthority(
                    kennung: try compile(paths.kennung), directory: try paths.directory.map(compile),
                    name: try paths.name.map(compile))
            }
            let compiled = Compiled(
                profile: profile, detect: try wrapped(profile.detect, in: "boolean"),
                identity: try profile.identity.map(compile),
                messageType: try compile(profile.messageType),
                messageTypeName: try profile.messageTypeName.map(compile),
                createdAt: try profile.createdAt.map(compile), author: try authority(profile.author),
                reader: try authority(profile.reader))
            if profile.rootNamespaces.isEmpty {
                generic.append(compiled)
            } else {
                for namespace in profile.rootNamespaces { specific[namespace, default: []].append(compiled) }
            }
        }
        self.specific = specific
        self.generic = generic
        self.profiles = profiles
    }

    /// Reads the header of `document`.
    /// - Throws: ``HeaderError`` when no profile applies, a required field is missing or the
    ///   identity is longer than ``MessageHeader/maximumIdentityBytes``.
    public func header(of document: XMLDocument) throws -> MessageHeader {
        let namespace = document.rootNamespace
        let candidates = (namespace.flatMap { specific[$0] } ?? []) + generic
        for candidate in candidates {
            guard let evaluator = try? XPathEvaluator(document: document, namespaces: candidate.profile.namespaces),
                (try? evaluator.evaluate(candidate.detect).booleanValue) == true
            else { continue }
            return try read(document, with: candidate, evaluator: evaluator, namespace: namespace)
        }
        throw HeaderError.unrecognised(rootElement: document.rootName ?? "(none)", namespace: namespace)
    }

    private func read(
        _ document: XMLDocument, with compiled: Compiled, evaluator: XPathEvaluator, namespace: String?
    ) throws -> MessageHeader {
        let profile = compiled.profile.name
        func value(_ field: String, _ expression: XPathExpression) throws -> String? {
            do { return try evaluator.string(expression) } catch {
                throw HeaderError.evaluationFailed(profile: profile, field: field, message: "\(error)")
            }
        }
        func required(_ field: String, _ expression: XPathExpression) throws -> String {
            guard let text = try value(field, expression) else {
                throw HeaderError.missingField(profile: profile, field: field, xpath: expression.expression)
            }
            return text
        }
        func authority(_ field: String, _ paths: CompiledAuthority?) throws -> Authority? {
            guard let paths, let kennung = try value("\(field).kennung", paths.kennung) else { return nil }
            return Authority(
                kennung: kennung, directory: try paths.directory.flatMap { try value("\(field).directory", $0) },
                name: try paths.name.flatMap { try value("\(field).name", $0) })
        }
        let identity = try compiled.identity.enumerated().map { index, expression in
            try required(index == 0 ? "identity" : "identity[\(index)]", expression)
        }.joined(separator: "/")
        let identityBytes = identity.utf8.count
        guard identityBytes <= MessageHeader.maximumIdentityBytes else {
            throw HeaderError.identityTooLong(
                profile: profile, bytes: identityBytes, limit: MessageHeader.maximumIdentityBytes)
        }
        return MessageHeader(
            profile: profile,
            messageID: identity,
            messageType: try required("messageType", compiled.messageType),
            messageTypeName: try compiled.messageTypeName.flatMap { try value("messageTypeName", $0) },
            createdAt: try compiled.createdAt.flatMap { try value("createdAt", $0) },
            author: try authority("author", compiled.author),
            reader: try authority("reader", compiled.reader),
            rootElement: document.rootName ?? "",
            rootNamespace: namespace)
    }
}
