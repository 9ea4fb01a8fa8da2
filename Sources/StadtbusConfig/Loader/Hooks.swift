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

/// Creates a signer for a configured key, for ``SignStepFactory`` (the signature module
/// provides the real one; dry-run and tests their own).
public typealias SignerFactory = @Sendable (KeyDefinition) throws -> any MessageSigner

/// Creates a verifier for the configured trust store directory, signer identity rules
/// (`signer-identities:`) and the `verify` step's settings, for ``VerifyStepFactory`` (the
/// signature module provides the real one; dry-run and tests their own).
public typealias VerifierFactory =
    @Sendable (_ trustStore: String?, _ identities: [String: [String]], _ options: VerifyOptions) throws ->
    any SignatureVerifier
