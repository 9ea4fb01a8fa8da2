internal import CLibXML
internal import CXMLShim
import Foundation

/// A private key and its certificate, loaded once and used to sign any number of messages
/// from any number of threads.
///
/// Loading parses the key, checks that it is RSA (≥ 2048 bits) or ECDSA P-256 and that the
/// certificate belongs to it, and prepares the xmlsec key. Each signature then only
/// duplicates that xmlsec key (the OpenSSL key itself is shared by reference count), so no
/// file access, key parsing or keys-manager set-up happens per message.
///
/// `@unchecked Sendable` because it wraps a C pointer: the xmlsec key is never changed after
/// `init` and each signature works on its own duplicate (`xmlSecKeyDuplicate` only reads the
/// original; the OpenSSL key inside is shared by OpenSSL's atomic reference count).
public final class SigningKey: @unchecked Sendable {
    /// The xmlsec key (private key only; the certificate is written into KeyInfo by Stadtbus).
    /// Never modified after init; only read by `xmlSecKeyDuplicate`.
    let key: xmlSecKeyPtr
    /// Base64 DER of the signer certificate, followed by any intermediate CA certificates.
    let certificatesBase64: [String]

    /// The signature algorithm this key produces.
    public let algorithm: SignatureAlgorithm
    /// The signer certificate.
    public let certificate: CertificateSummary

    private init(privateKey: OpaquePointer, certificate: Certificate, chain: [Certificate], source: String)
        throws(SignatureSetupError)
    {
        // Ownership of `privateKey` passes to this function (freed on every error path).
        let algorithm: SignatureAlgorithm
        do {
            algorithm = try Self.algorithm(for: privateKey)
        } catch {
            EVP_PKEY_free(privateKey)
            throw error
        }
        guard X509_check_private_key(certificate.pointer, privateKey) == 1 else {
            EVP_PKEY_free(privateKey)
            _ = SignatureLibrary.takeOpenSSLErrors()
            throw .certificateKeyMismatch(path: source)
        }
        guard let key = stadtbus_xmlsec_key_adopt(privateKey) else {
            throw .keyLoadFailed(path: source, message: SignatureLibrary.takeXMLSecError() ?? "xmlsec refused the key")
        }
        self.key = key
        self.algorithm = algorithm
        self.certificate = certificate.summary
        self.certificatesBase64 = ([certificate] + chain).map { Data($0.der).base64EncodedString() }
    }

    deinit {
        xmlSecKeyDestroy(key)
    }

    /// Loads a PEM private key (PKCS#8 or traditional, optionally encrypted) and the PEM
    /// certificate file that belongs to it. Further certificates in `certificatePath` that are
    /// not self-signed (intermediate CAs) are sent along in KeyInfo.
    /// - Throws: ``SignatureSetupError``.
    public convenience init(
        pemKey keyPath: String, certificate certificatePath: String, passphrase: SecretSource = .none
    )
        throws(SignatureSetupError)
    {
        try SignatureLibrary.initialize()
        let secret = try passphrase.read()
        SignatureLibrary.resetErrors()
        guard let bio = BIO_new_file(keyPath, "r") else {
            throw .keyLoadFailed(path: keyPath, message: SignatureLibrary.takeOpenSSLErrors() ?? "cannot open file")
        }
        defer { BIO_free(bio) }
        // The callback hands over the configured passphrase (or none): OpenSSL never prompts.
        let privateKey: OpaquePointer? = Self.withPassphrase(secret) { userData in
            PEM_read_bio_PrivateKey(bio, nil, passphraseCallback, userData)
        }
        guard let privateKey else {
            throw .keyLoadFailed(
                path: keyPath,
                message: SignatureLibrary.takeOpenSSLErrors() ?? "no PEM private key (or wrong passphrase)")
        }
        let certificates: [Certificate]
        do {
            certificates = try Self.loadCertificates(pemFile: certificatePath)
        } catch {
            EVP_PKEY_free(privateKey)
            throw error
        }
        try self.init(
            privateKey: privateKey, certificate: certificates[0], chain: Self.intermediates(certificates.dropFirst()),
            source: certificatePath)
    }

    /// Loads a PKCS#12 file (key, certificate and optionally CA certificates). Intermediate
    /// CA certificates (not self-signed) in the file are sent along in KeyInfo.
    /// - Throws: ``SignatureSetupError``.
    public convenience init(pkcs12 path: String, passphrase: SecretSource) throws(SignatureSetupError) {
        try SignatureLibrary.initialize()
        let secret = try passphrase.read()
        SignatureLibrary.resetErrors()
        guard let bio = BIO_new_file(path, "rb") else {
            throw .keyLoadFailed(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "cannot open file")
        }
        defer { BIO_free(bio) }
        guard let p12 = d2i_PKCS12_bio(bio, nil) else {
            throw .keyLoadFailed(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "not a PKCS#12 file")
        }
        defer { PKCS12_free(p12) }
        var privateKey: OpaquePointer?
        var x509: OpaquePointer?
        var extra: OpaquePointer?
        guard PKCS12_parse(p12, secret ?? "", &privateKey, &x509, &extra) == 1, let privateKey, let x509 else {
            throw .keyLoadFailed(
                path: path,
                message: SignatureLibrary.takeOpenSSLErrors()
                    ?? "PKCS#12 without key and certificate (or wrong passphrase)")
        }
        var others: [Certificate] = []
        if let extra {
            while let item = OPENSSL_sk_shift(extra) {
                others.append(Certificate.adopting(OpaquePointer(item)))
            }
            OPENSSL_sk_free(extra)
        }
        try self.init(
            privateKey: privateKey, certificate: Certificate.adopting(x509), chain: Self.intermediates(others[...]),
            source: path)
    }

    private static func intermediates(_ certificates: ArraySlice<Certificate>) -> [Certificate] {
        certificates.filter { !$0.issued($0) }
    }

    private static func loadCertificates(pemFile path: String) throws(SignatureSetupError) -> [Certificate] {
        guard let bio = BIO_new_file(path, "r") else {
            throw .keyLoadFailed(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "cannot open file")
        }
        defer { BIO_free(bio) }
        var certificates: [Certificate] = []
        while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(Certificate.adopting(x509))
        }
        // Reading stops with an "no start line" error at the end of the file.
        let errors = SignatureLibrary.takeOpenSSLErrors()
        guard !certificates.isEmpty else {
            throw .keyLoadFailed(path: path, message: errors ?? "no PEM certificate")
        }
        return certificates
    }

    private static func algorithm(for key: OpaquePointer) throws(SignatureSetupError) -> SignatureAlgorithm {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            let bits = EVP_PKEY_get_bits(key)
            guard bits >= 2048 else { throw .unsupportedKey("RSA key of \(bits) bits; at least 2048 are required") }
            return .rsaSHA256
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else {
                throw .unsupportedKey("EC key without a named curve")
            }
            let curve = String(cString: name)
            guard curve == "prime256v1" || curve == "P-256" else {
                throw .unsupportedKey("EC key on curve \(curve); only P-256 is supported")
            }
            return .ecdsaSHA256
        default:
            throw .unsupportedKey("only RSA and ECDSA P-256 keys are supported")
        }
    }

    private static func withPassphrase<T>(_ secret: String?, _ body: (UnsafeMutableRawPointer?) -> T) -> T {
        guard let secret else { return body(nil) }
        var bytes = Array(secret.utf8CString)
        defer {
            // Do not leave the passphrase in freed memory longer than needed.
            for index in bytes.indices { bytes[index] = 0 }
        }
        return bytes.withUnsafeMutableBytes { body($0.baseAddress) }
    }
}

/// OpenSSL's pem_password_cb: copies the NUL-terminated passphrase in `userData`, or
/// reports "no passphrase" (so OpenSSL never prompts on a terminal).
private func passphraseCallback(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let buffer, let userData, size > 0 else { return 0 }
    let secret = userData.assumingMemoryBound(to: CChar.self)
    let length = min(Int(strlen(secret)), Int(size) - 1)
    buffer.update(from: secret, count: length)
    buffer[length] = 0
    return Int32(length)
}
