internal import StadtbusCore
internal import StadtbusSignature
internal import StadtbusXML

/// A `sign` step's signer: an enveloped XMLDSig signature with one loaded key.
struct XMLDSigSigner: MessageSigner {
    let key: SigningKey

    func sign(document: XMLDocument) throws {
        do { try key.sign(document) } catch {
            throw SignatureError(code: "sign-failed", message: "\(error)")
        }
    }
}
