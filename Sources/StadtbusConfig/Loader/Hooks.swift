import StadtbusCore
import StadtbusXML
import Yams

/// Compiles YAML mapping rules to XSLT. The mapping module provides the real implementation
/// (`MappingRules.parse(node:file:)` + `compile()`); until it is wired in, a `map: {rules: …}`
/// step is a configuration error.
public protocol MappingRulesCompiling: Sendable {
    /// Compiles the rules in `node` (from `file`). Errors should carry file:line:column.
    func compile(node: Yams.Node, file: String) throws -> XSLTStylesheet
}

/// Creates a signer for a configured key (the signature module provides it).
public typealias SignerFactory = @Sendable (KeyDefinition) throws -> any MessageSigner

/// Creates a verifier for the configured trust store directory, signer identity rules
/// (`signer-identities:`) and the `verify` step's settings (the signature module provides it).
public typealias VerifierFactory =
    @Sendable (_ trustStore: String?, _ identities: [String: [String]], _ options: VerifyOptions) throws ->
    any SignatureVerifier

/// Placeholder signer used when no signature module is wired in: every message fails
/// permanently with `signer-unavailable`, so nothing unsigned leaves by mistake.
struct UnavailableSigner: MessageSigner {
    let key: String
    func sign(document: XMLDocument) throws {
        throw SignatureError(code: "signer-unavailable", message: "no signature module is wired in for key '\(key)'")
    }
}

/// Placeholder verifier used when no signature module is wired in: every message fails verification.
struct UnavailableVerifier: SignatureVerifier {
    func verify(document: XMLDocument, header: MessageHeader) throws {
        throw SignatureError(code: "verifier-unavailable", message: "no signature module is wired in")
    }
}
