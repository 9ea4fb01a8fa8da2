internal import CLibXML
public import Foundation

/// The trust anchors signer certificates must chain to, and the certificate revocation lists
/// (CRLs) they are checked against: every `*.pem` file of a directory (each may hold several
/// certificates and CRLs) and every `*.crl` file (one CRL, PEM or DER), loaded once into an
/// OpenSSL `X509_STORE`.
///
/// Chain validation uses OpenSSL's `X509_verify_cert` directly on the certificate taken
/// from the signature's KeyInfo (not xmlsec's keys manager): that gives precise reasons
/// (expired vs. untrusted vs. revoked) and keeps KeyInfo processing under Stadtbus's control.
/// Trust anchors must be self-signed roots (no partial chains); intermediates travel in
/// KeyInfo. Security level 2 applies (RSA ≥ 2048 bits, no SHA-1 signatures in the chain).
///
/// **Revocation.** When the directory holds CRLs, every certificate of a chain whose issuer
/// has a CRL in the store is checked against it (OpenSSL `X509_V_FLAG_CRL_CHECK_ALL`); a
/// certificate whose issuer has none is not checked. Each CRL is checked when the store
/// loads: it must be readable, be issued and signed by a certificate of the store (put an
/// intermediate CA's certificate next to its CRL), and not be expired (nextUpdate) — else
/// ``SignatureSetupError/crlUnusable(path:message:)``, so `stadtbus check` and a reload
/// report it. A CRL that expires while loaded makes its CA's signers fail with
/// ``SignatureFailure/revocationUnknown(_:)`` until a fresh CRL is loaded (replace the file
/// and reload the configuration).
///
/// Immutable after loading and `Sendable`: `X509_STORE` supports concurrent verification.
/// (`@unchecked` because it wraps a C pointer: the store is never changed after `init`, each
/// verification makes its own `X509_STORE_CTX`, and OpenSSL locks the store's own lookups.)
public final class TrustStore: @unchecked Sendable {
    let store: OpaquePointer
    /// The files that were loaded.
    public let files: [String]
    /// How many certificates the store holds.
    public let certificateCount: Int
    /// How many CRLs the store holds.
    public let crlCount: Int
    /// The earliest nextUpdate of the loaded CRLs: validation results are not reused past it.
    let crlsValidUntil: time_t?

    /// Loads every `*.pem` and `*.crl` file in `directory`; CRLs must be valid at `time`
    /// (now if `nil`).
    /// - Throws: ``SignatureSetupError/trustStoreUnusable(path:message:)`` when the directory
    ///   cannot be read, a file holds neither certificate nor CRL, or no certificate was found;
    ///   ``SignatureSetupError/crlUnusable(path:message:)`` for a CRL that cannot be used.
    public init(directory: String, at time: Date? = nil) throws(SignatureSetupError) {
        try SignatureLibrary.initialize()
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".pem") || $0.hasSuffix(".crl") }.sorted()
        } catch {
            throw .trustStoreUnusable(path: directory, message: "cannot read the directory")
        }
        guard let store = X509_STORE_new() else { throw .trustStoreUnusable(path: directory, message: "out of memory") }
        var contents = TrustStoreContents()
        defer { contents.release() }
        do {
            for name in names {
                let path = (directory as NSString).appendingPathComponent(name)
                try contents.load(path, into: store)
            }
            guard !contents.certificates.isEmpty else {
                throw SignatureSetupError.trustStoreUnusable(path: directory, message: "no *.pem certificate found")
            }
            try contents.checkCRLs(at: time_t((time ?? Date()).timeIntervalSince1970))
        } catch let error as SignatureSetupError {
            X509_STORE_free(store)
            throw error
        } catch {
            X509_STORE_free(store)
            throw .trustStoreUnusable(path: directory, message: "\(error)")
        }
        self.store = store
        self.files = contents.files
        self.certificateCount = Int(OPENSSL_sk_num(X509_STORE_get0_objects(store))) - contents.crls.count
        self.crlCount = contents.crls.count
        self.crlsValidUntil = contents.crls.compactMap(\.nextUpdate).min()
    }

    deinit {
        X509_STORE_free(store)
    }

    /// Validates `leaf` (with untrusted `intermediates`) against the trust anchors at `time`
    /// (now if `nil`).
    /// - Returns: the period in which the whole chain is valid (latest notBefore, earliest
    ///   notAfter), so a successful result can be reused within it.
    func validate(_ leaf: Certificate, intermediates: [Certificate], at time: Date?) throws(SignatureFailure)
        -> ClosedRange<time_t>
    {
        guard let context = X509_STORE_CTX_new() else { throw .malformed("out of memory") }
        defer { X509_STORE_CTX_free(context) }
        let untrusted = OPENSSL_sk_new_null()
        defer { OPENSSL_sk_free(untrusted) }
        for certificate in intermediates {
            // The stack only borrows the certificates; `intermediates` keeps them alive.
            OPENSSL_sk_push(untrusted, UnsafeRawPointer(certificate.pointer))
        }
        SignatureLibrary.resetErrors()
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1 else {
            throw .malformed(SignatureLibrary.takeOpenSSLErrors() ?? "cannot initialise certificate validation")
        }
        let parameters = X509_STORE_CTX_get0_param(context)
        X509_VERIFY_PARAM_set_auth_level(parameters, 2)
        if crlCount > 0 {
            X509_VERIFY_PARAM_set_flags(parameters, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
            X509_STORE_CTX_set_verify_cb(context, Self.skipIssuersWithoutCRL)
        }
        if let time { X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970)) }
        if X509_verify_cert(context) == 1 {
            let period = Self.validityPeriod(of: X509_STORE_CTX_get0_chain(context))
            guard let until = crlsValidUntil else { return period }
            return period.lowerBound <= until ? period.lowerBound...min(period.upperBound, until) : 0...0
        }
        let error = X509_STORE_CTX_get_error(context)
        let depth = X509_STORE_CTX_get_error_depth(context)
        let text = String(cString: X509_verify_cert_error_string(Int(error)))
        let subject = X509_STORE_CTX_get_current_cert(context).map { Certificate.subject(of: $0) } ?? leaf.subject
        let detail = "\(text) (certificate '\(subject)', depth \(depth))"
        _ = SignatureLibrary.takeOpenSSLErrors()
        switch error {
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
            throw .expired(detail)
        case X509_V_ERR_INVALID_PURPOSE where depth == 0:
            throw .wrongKeyUsage
        case X509_V_ERR_CERT_REVOKED:
            throw .certificateRevoked(detail)
        case X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER,
            X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE,
            X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD,
            X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, X509_V_ERR_DIFFERENT_CRL_SCOPE,
            X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION,
            X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
            throw .revocationUnknown(detail)
        default:
            throw .untrustedChain(detail)
        }
    }

    /// With CRL checking on, OpenSSL wants a CRL for every issuer of the chain; Stadtbus checks
    /// against the CRLs the trust store has and lets a certificate whose issuer has none pass.
    private static let skipIssuersWithoutCRL: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, context in
        if ok == 0, let context, X509_STORE_CTX_get_error(context) == X509_V_ERR_UNABLE_TO_GET_CRL {
            X509_STORE_CTX_set_error(context, X509_V_OK)
            return 1
        }
        return ok
    }

    /// The intersection of the validity periods of `chain` (an empty-ish range if unknown).
    private static func validityPeriod(of chain: OpaquePointer?) -> ClosedRange<time_t> {
        var notBefore = time_t.min
        var notAfter = time_t.max
        guard let chain else { return 0...0 }
        for index in 0..<OPENSSL_sk_num(chain) {
            guard let item = OPENSSL_sk_value(chain, index) else { return 0...0 }
            let x509 = OpaquePointer(item)
            guard let start = seconds(X509_get0_notBefore(x509)), let end = seconds(X509_get0_notAfter(x509)) else {
                return 0...0
            }
            notBefore = max(notBefore, start)
            notAfter = min(notAfter, end)
        }
        return notBefore <= notAfter ? notBefore...notAfter : 0...0
    }

    static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> time_t? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return timegm(&parts)
    }
}
