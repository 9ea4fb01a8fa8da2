import StadtbusCore
import StadtbusXML

/// A verifier that accepts every document, for loading configurations with `verify` steps
/// without a trust store.
struct AcceptingVerifier: SignatureVerifier {
    func verify(document: XMLDocument, header: MessageHeader) throws {}
}

/// A signer that leaves the document as it is, for loading configurations with `sign` steps
/// without a private key.
struct StandInSigner: MessageSigner {
    let key: String
    func sign(document: XMLDocument) throws {}
}
