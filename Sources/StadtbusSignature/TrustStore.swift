internal import CLibXML
import Foundation

/// The trust anchors signer certificates must chain to: every `*.pem` file of a directory
/// (each may hold several certificates), loaded once into an OpenSSL `X509_STORE`.
///
/// Chain validation uses OpenSSL's `X509_verify_cert` directly on the certificate taken
/// from the signature's KeyInfo (not xmlsec's keys manager): that gives precise reasons
/// (expired vs. untrusted) and keeps KeyInfo processing under Stadtbus's control.
/// Trust anchors must be self-signed roots (no partial chains); intermediates travel in
/// KeyInfo. Security level 2 applies (RSA ≥ 2048 bits, no SHA-1 signatures in the chain).
///
/// Immutable after loading and `Sendable`: `X509_STORE` supports concurrent verification.
public final class TrustStore: @unchecked Sendable {
    let store: OpaquePointer
    /// The files that were loaded.
    public let files: [String]
    /// How many certificates the store holds.
    public let certificateCount: Int

    /// Loads every `*.pem` file in `directory`.
    /// - Throws: ``SignatureSetupError/trustStoreUnusable(path:message:)`` when the directory
    ///   cannot be read, a file is not PEM, or no certificate was found.
    public init(directory: String) throws(SignatureSetupError) {
        try SignatureLibrary.initialize()
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".pem") }
                .sorted()
        } catch {
            throw .trustStoreUnusable(path: directory, message: "cannot read the directory")
        }
        guard let store = X509_STORE_new() else { throw .trustStoreUnusable(path: directory, message: "out of memory") }
        SignatureLibrary.resetErrors()
        var files: [String] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard X509_STORE_load_file(store, path) == 1 else {
                let message = SignatureLibrary.takeOpenSSLErrors() ?? "not a PEM certificate file"
                X509_STORE_free(store)
                throw .trustStoreUnusable(path: path, message: message)
            }
            files.append(path)
        }
        let count = Int(OPENSSL_sk_num(X509_STORE_get0_objects(store)))
        guard count > 0 else {
            X509_STORE_free(store)
            throw .trustStoreUnusable(path: directory, message: "no *.pem certificate found")
        }
        self.store = store
        self.files = files
        self.certificateCount = count
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
        if let time { X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970)) }
        if X509_verify_cert(context) == 1 { return Self.validityPeriod(of: X509_STORE_CTX_get0_chain(context)) }
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
        default:
            throw .untrustedChain(detail)
        }
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

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> time_t? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return timegm(&parts)
    }
}
