internal import StadtbusCore
internal import StadtbusSignature
internal import StadtbusXML

/// A `verify` step's verifier: checks the XMLDSig signature, the signer's chain and its binding
/// to the message's author; the failure's reason (`bad-digest`, `identity-mismatch`, …) becomes
/// the dead-letter code.
struct XMLDSigVerifier: StadtbusCore.SignatureVerifier {
    let verifier: StadtbusSignature.SignatureVerifier

    func verify(document: XMLDocument, header: MessageHeader) throws {
        do { _ = try verifier.verify(document, header: header) } catch {
            throw SignatureError(code: error.reason, message: error.description)
        }
    }
}
