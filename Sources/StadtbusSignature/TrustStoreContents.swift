internal import CLibXML
import Foundation

/// One CRL read from the trust store directory.
struct LoadedCRL {
    /// The OpenSSL `X509_CRL*` (one reference owned here).
    let pointer: OpaquePointer
    let path: String
    /// nextUpdate in seconds since 1970; `nil` if the CRL names none.
    let nextUpdate: time_t?
}

/// What ``TrustStore`` reads from its directory while loading: the certificates and CRLs
/// (each added to the `X509_STORE`, which takes its own reference) and the checks of the CRLs.
struct TrustStoreContents {
    private(set) var files: [String] = []
    /// Certificates read (one reference owned here), for finding CRL issuers.
    private(set) var certificates: [OpaquePointer] = []
    private(set) var crls: [LoadedCRL] = []

    /// Reads `path` — PEM certificates and CRLs, or for `*.crl` a DER CRL — into `store`.
    mutating func load(_ path: String, into store: OpaquePointer) throws(SignatureSetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .trustStoreUnusable(path: path, message: "cannot read the file")
        }
        let bytes = [UInt8](data)
        SignatureLibrary.resetErrors()
        var found = 0
        let items = Self.pemItems(bytes)
        defer { for item in items { X509_INFO_free(item) } }
        for item in items {
            if let certificate = item.pointee.x509 {
                guard X509_STORE_add_cert(store, certificate) == 1 else {
                    throw .trustStoreUnusable(
                        path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "certificate not added")
                }
                X509_up_ref(certificate)
                certificates.append(certificate)
                found += 1
            }
            if let crl = item.pointee.crl {
                try add(crl, path: path, to: store)
                found += 1
            }
        }
        if found == 0, path.hasSuffix(".crl"), let crl = Self.derCRL(bytes) {
            defer { X509_CRL_free(crl) }
            try add(crl, path: path, to: store)
            found += 1
        }
        _ = SignatureLibrary.takeOpenSSLErrors()
        guard found > 0 else {
            if path.hasSuffix(".crl") {
                throw .crlUnusable(path: path, message: "neither a PEM nor a DER certificate revocation list")
            }
            throw .trustStoreUnusable(path: path, message: "no PEM certificate or CRL in the file")
        }
        files.append(path)
    }

    private mutating func add(_ crl: OpaquePointer, path: String, to store: OpaquePointer) throws(SignatureSetupError) {
        guard X509_STORE_add_crl(store, crl) == 1 else {
            throw .crlUnusable(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "not added to the store")
        }
        X509_CRL_up_ref(crl)
        crls.append(LoadedCRL(pointer: crl, path: path, nextUpdate: TrustStore.seconds(X509_CRL_get0_nextUpdate(crl))))
    }

    /// Checks each CRL at `now`: issued and signed by a certificate of the store, and current.
    func checkCRLs(at now: time_t) throws(SignatureSetupError) {
        for crl in crls {
            let issuerName = X509_CRL_get_issuer(crl.pointer)
            let issuer = Certificate.text(of: issuerName)
            let candidates = certificates.filter { X509_NAME_cmp(X509_get_subject_name($0), issuerName) == 0 }
            guard !candidates.isEmpty else {
                throw .crlUnusable(
                    path: crl.path,
                    message:
                        "its issuer '\(issuer)' is not a certificate of the trust store (add the issuing CA's certificate)"
                )
            }
            guard candidates.contains(where: { X509_CRL_verify(crl.pointer, X509_get0_pubkey($0)) == 1 }) else {
                _ = SignatureLibrary.takeOpenSSLErrors()
                throw .crlUnusable(path: crl.path, message: "its signature does not verify with the key of '\(issuer)'")
            }
            if let lastUpdate = TrustStore.seconds(X509_CRL_get0_lastUpdate(crl.pointer)), lastUpdate > now {
                throw .crlUnusable(path: crl.path, message: "not yet valid (thisUpdate lies in the future)")
            }
            if let nextUpdate = crl.nextUpdate, nextUpdate < now {
                let date = Date(timeIntervalSince1970: TimeInterval(nextUpdate))
                throw .crlUnusable(
                    path: crl.path,
                    message: "expired: its nextUpdate \(date) has passed — fetch a current CRL from '\(issuer)'")
            }
        }
    }

    /// Gives back the references held here (the store keeps its own).
    func release() {
        for certificate in certificates { X509_free(certificate) }
        for crl in crls { X509_CRL_free(crl.pointer) }
    }

    /// The PEM items (certificates, CRLs, keys) of `bytes`; empty if there is none.
    private static func pemItems(_ bytes: [UInt8]) -> [UnsafeMutablePointer<X509_INFO>] {
        guard !bytes.isEmpty, bytes.count <= Int(Int32.max) else { return [] }
        return bytes.withUnsafeBytes { buffer -> [UnsafeMutablePointer<X509_INFO>] in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return [] }
            defer { BIO_free(bio) }
            guard let stack = PEM_X509_INFO_read_bio(bio, nil, nil, nil) else { return [] }
            defer { OPENSSL_sk_free(stack) }
            return (0..<OPENSSL_sk_num(stack)).compactMap { index in
                OPENSSL_sk_value(stack, index).map {
                    UnsafeMutableRawPointer(mutating: $0).assumingMemoryBound(to: X509_INFO.self)
                }
            }
        }
    }

    /// A DER CRL that is exactly `bytes`; `nil` otherwise.
    private static func derCRL(_ bytes: [UInt8]) -> OpaquePointer? {
        bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            guard let crl = d2i_X509_CRL(nil, &cursor, buffer.count) else { return nil }
            guard cursor == base + buffer.count else {
                X509_CRL_free(crl)
                return nil
            }
            return crl
        }
    }
}
