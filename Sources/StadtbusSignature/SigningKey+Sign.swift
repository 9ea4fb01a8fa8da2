internal import CLibXML
import Foundation
public import StadtbusXML

extension SigningKey {
    /// Signs `document` in place with an enveloped XMLDSig signature over the whole document.
    ///
    /// Appends `ds:Signature` as the last child of the document element: one Reference with
    /// `URI=""`, the enveloped-signature and exclusive-C14N transforms and SHA-256;
    /// SignedInfo canonicalised with exclusive C14N; ``algorithm`` as SignatureMethod; the
    /// signer certificate (and intermediates) in `KeyInfo/X509Data`. Serialise the document
    /// afterwards with ``XMLDocument/serialized()`` (no reformatting).
    ///
    /// Thread-safe for distinct documents: one key signs on any number of threads at once.
    /// - Throws: ``SignatureSetupError/signingFailed(_:)`` when the document has no root
    ///   element, already carries a signature on its root, or xmlsec fails.
    public func sign(_ document: XMLDocument) throws(SignatureSetupError) {
        try SignatureLibrary.initialize()
        SignatureLibrary.resetErrors()
        let doc = document.libxmlDocument
        guard let root = xmlDocGetRootElement(doc) else { throw .signingFailed("the document has no root element") }
        if XMLNodes.elementChildren(root).contains(where: { XMLNodes.isElement($0, "Signature") }) {
            throw .signingFailed("the document element already carries a ds:Signature")
        }
        guard
            let signature = xmlSecTmplSignatureCreateNsPref(
                doc, xmlSecTransformExclC14NGetKlass(), algorithm.transform, nil, "ds")
        else {
            throw .signingFailed(SignatureLibrary.takeXMLSecError() ?? "cannot create the signature template")
        }
        guard xmlAddChild(root, signature) != nil else {
            xmlFreeNode(signature)
            throw .signingFailed("cannot append the signature to the document element")
        }
        do {
            try fillTemplate(signature)
            try computeSignature(signature)
            try addKeyInfo(signature)
        } catch {
            xmlUnlinkNode(signature)
            xmlFreeNode(signature)
            throw error
        }
    }

    private func fillTemplate(_ signature: xmlNodePtr) throws(SignatureSetupError) {
        guard
            let reference = xmlSecTmplSignatureAddReference(
                signature, xmlSecOpenSSLTransformSha256GetKlass(), nil, "", nil),
            xmlSecTmplReferenceAddTransform(reference, xmlSecTransformEnvelopedGetKlass()) != nil,
            xmlSecTmplReferenceAddTransform(reference, xmlSecTransformExclC14NGetKlass()) != nil
        else {
            throw .signingFailed(SignatureLibrary.takeXMLSecError() ?? "cannot build the signature template")
        }
    }

    private func computeSignature(_ signature: xmlNodePtr) throws(SignatureSetupError) {
        guard let context = xmlSecDSigCtxCreate(nil) else { throw .signingFailed("out of memory") }
        defer { xmlSecDSigCtxDestroy(context) }
        // The context owns (and destroys) its key: give it a duplicate, which shares the
        // OpenSSL key by reference count.
        guard let duplicate = xmlSecKeyDuplicate(key) else {
            throw .signingFailed(SignatureLibrary.takeXMLSecError() ?? "cannot duplicate the key")
        }
        context.pointee.signKey = duplicate
        guard xmlSecDSigCtxSign(context, signature) == 0 else {
            throw .signingFailed(
                SignatureLibrary.takeXMLSecError() ?? SignatureLibrary.takeOpenSSLErrors() ?? "xmlSecDSigCtxSign failed"
            )
        }
    }

    /// KeyInfo is not signed; it is written after the signature so that xmlsec never has
    /// to serialise certificates (they are base64-encoded once, when the key is loaded).
    private func addKeyInfo(_ signature: xmlNodePtr) throws(SignatureSetupError) {
        guard let keyInfo = xmlSecTmplSignatureEnsureKeyInfo(signature, nil),
            let x509Data = xmlSecTmplKeyInfoAddX509Data(keyInfo)
        else {
            throw .signingFailed(SignatureLibrary.takeXMLSecError() ?? "cannot add KeyInfo")
        }
        for certificate in certificatesBase64 {
            guard xmlNewTextChild(x509Data, x509Data.pointee.ns, "X509Certificate", certificate) != nil else {
                throw .signingFailed("cannot add the certificate to KeyInfo")
            }
        }
    }
}
