internal import CLibXML
import Foundation

/// The extendedKeyUsage purposes that let a certificate sign Stadtbus messages.
///
/// A signer certificate is accepted when it has **no** extendedKeyUsage extension (keyUsage
/// alone then decides), or when the extension names at least one of these purposes.
/// A certificate whose extension names only other purposes — typically a TLS certificate
/// (`serverAuth` 1.3.6.1.5.5.7.3.1, `clientAuth` 1.3.6.1.5.5.7.3.2), but also `codeSigning`,
/// `timeStamping` or `OCSPSigning`, which are for other kinds of objects — is refused with
/// ``SignatureFailure/wrongExtendedKeyUsage(_:)``.
enum SigningPurposes {
    /// Dotted OID → name, for the purposes that allow signing documents.
    static let accepted: [String: String] = [
        "2.5.29.37.0": "anyExtendedKeyUsage",
        "1.3.6.1.5.5.7.3.4": "emailProtection",
        "1.3.6.1.5.5.7.3.36": "documentSigning",  // RFC 9336
        "1.3.6.1.4.1.311.10.3.12": "msDocumentSigning",
    ]
}

extension Certificate {
    /// The extendedKeyUsage purposes as dotted OIDs; `[]` if the certificate has no such
    /// extension, `nil` if the extension is present but cannot be decoded (or is duplicated).
    var extendedKeyUsageOIDs: [String]? {
        var critical: Int32 = 0
        guard let raw = X509_get_ext_d2i(pointer, NID_ext_key_usage, &critical, nil) else {
            // -1: the extension is absent; anything else: present but undecodable or repeated.
            return critical == -1 ? [] : nil
        }
        let usages = OpaquePointer(raw)
        defer { EXTENDED_KEY_USAGE_free(usages) }
        var oids: [String] = []
        for index in 0..<OPENSSL_sk_num(usages) {
            guard let item = OPENSSL_sk_value(usages, index) else { return nil }
            var buffer = [CChar](repeating: 0, count: 128)
            let length = OBJ_obj2txt(&buffer, Int32(buffer.count), OpaquePointer(item), 1)
            guard length > 0, Int(length) < buffer.count else { return nil }
            oids.append(String(cString: buffer))
        }
        return oids
    }

    /// Checks the extendedKeyUsage (see ``SigningPurposes``).
    /// - Throws: ``SignatureFailure/wrongExtendedKeyUsage(_:)``.
    func checkSigningPurpose() throws(SignatureFailure) {
        guard let oids = extendedKeyUsageOIDs else {
            throw .wrongExtendedKeyUsage("certificate '\(subject)': the extendedKeyUsage extension cannot be read")
        }
        guard !oids.isEmpty else { return }
        if oids.contains(where: { SigningPurposes.accepted[$0] != nil }) { return }
        let names = oids.map { oid in Self.purposeNames[oid].map { "\($0) (\(oid))" } ?? oid }
        throw .wrongExtendedKeyUsage(
            "certificate '\(subject)' is issued for \(names.joined(separator: ", ")) only; accepted: no extendedKeyUsage, "
                + SigningPurposes.accepted.values.sorted().joined(separator: ", "))
    }

    private static let purposeNames: [String: String] = [
        "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth", "1.3.6.1.5.5.7.3.3": "codeSigning",
        "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    ]
}
