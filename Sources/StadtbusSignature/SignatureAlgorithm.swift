internal import CLibXML

/// The XMLDSig signature algorithms Stadtbus signs with.
public enum SignatureAlgorithm: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
    /// RSA PKCS#1 v1.5 with SHA-256 (keys of 2048 bits or more).
    case rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    /// ECDSA on P-256 with SHA-256.
    case ecdsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

    /// The algorithm URI written into `SignatureMethod`.
    public var uri: String { rawValue }

    var transform: xmlSecTransformId {
        switch self {
        case .rsaSHA256: return xmlSecOpenSSLTransformRsaSha256GetKlass()
        case .ecdsaSHA256: return xmlSecOpenSSLTransformEcdsaSha256GetKlass()
        }
    }
}

/// Algorithm URIs accepted in received signatures (and the xmlsec transforms behind them).
enum AcceptedAlgorithms {
    static let exclusiveC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    static let enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

    static let digests: Set<String> = [
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    ]

    static let signatures: Set<String> = [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    ]

    /// Transforms allowed inside a Reference (besides its DigestMethod).
    static let referenceTransforms: Set<String> = [enveloped, exclusiveC14N]

    static var referenceTransformIds: [xmlSecTransformId] {
        [
            xmlSecTransformEnvelopedGetKlass(), xmlSecTransformExclC14NGetKlass(),
            xmlSecOpenSSLTransformSha256GetKlass(), xmlSecOpenSSLTransformSha384GetKlass(),
            xmlSecOpenSSLTransformSha512GetKlass(),
        ]
    }

    static var signatureTransformIds: [xmlSecTransformId] {
        [
            xmlSecTransformExclC14NGetKlass(),
            xmlSecOpenSSLTransformRsaSha256GetKlass(), xmlSecOpenSSLTransformRsaSha384GetKlass(),
            xmlSecOpenSSLTransformRsaSha512GetKlass(),
            xmlSecOpenSSLTransformEcdsaSha256GetKlass(), xmlSecOpenSSLTransformEcdsaSha384GetKlass(),
            xmlSecOpenSSLTransformEcdsaSha512GetKlass(),
        ]
    }
}
