import StadtbusXML

/// `sign: {key: NAME}` — signs the current document with the configured key.
public struct SignStep: RouteStep {
    public let keyName: String
    public let signer: any MessageSigner

    public init(keyName: String, signer: any MessageSigner) {
        self.keyName = keyName
        self.signer = signer
    }

    public var name: String { "sign" }
    public var label: String { "sign \(keyName)" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        do {
            try signer.sign(document: exchange.document)
        } catch let error as SignatureError {
            throw StepFailure(
                error.isTransient ? .transient : .permanent, code: "sign-failed", message: "key '\(keyName)': \(error)")
        } catch {
            throw StepFailure.permanent("sign-failed", "key '\(keyName)': \(error)")
        }
        return .proceed
    }
}

/// `verify: {}` — verifies the document's signature against the trust store.
public struct VerifyStep: RouteStep {
    public var leavesDocumentUnchanged: Bool { true }
    public let verifier: any SignatureVerifier

    public init(verifier: any SignatureVerifier) {
        self.verifier = verifier
    }

    public var name: String { "verify" }
    public var label: String { "verify" }

    public func run(_ exchange: Exchange) async throws -> StepOutcome {
        do {
            try verifier.verify(document: exchange.document, header: exchange.header)
        } catch let error as SignatureError {
            // The verifier's own code (`bad-digest`, `identity-mismatch`, …) is the reason an
            // operator sees in the dead-letter headers.
            throw StepFailure(error.isTransient ? .transient : .permanent, code: error.code, message: error.message)
        } catch {
            throw StepFailure.permanent("signature-invalid", "\(error)")
        }
        return .proceed
    }
}
