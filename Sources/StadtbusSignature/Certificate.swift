internal import CLibXML
import Foundation

/// An X.509 certificate held by OpenSSL (package-internal; the public view is
/// ``CertificateSummary``). Immutable after creation, so it may be shared between threads.
///
/// `@unchecked Sendable` because it wraps a C pointer: Stadtbus never changes the `X509` after
/// decoding it and only passes it to OpenSSL's read-only functions (verification, printing,
/// `X509_check_private_key`); OpenSSL guards the caches it fills lazily inside an `X509` with
/// its own lock. The pointer is freed only in `deinit`.
final class Certificate: @unchecked Sendable {
    /// The OpenSSL `X509*`, owned by this object.
    let pointer: OpaquePointer

    private init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_free(pointer)
    }

    /// Decodes a DER certificate; `nil` if the bytes are not one.
    convenience init?(der: [UInt8]) {
        let decoded: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0, buffer.count <= Int(Int32.max) else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            guard let x509 = d2i_X509(nil, &cursor, Int(buffer.count)) else { return nil }
            // The bytes must be exactly one certificate (no trailing data).
            guard cursor == base + buffer.count else {
                X509_free(x509)
                return nil
            }
            return x509
        }
        guard let decoded else { return nil }
        self.init(owning: decoded)
    }

    /// Takes ownership of an `X509*` (e.g. from `PKCS12_parse`).
    static func adopting(_ pointer: OpaquePointer) -> Certificate {
        Certificate(owning: pointer)
    }

    /// Reads the first certificate of a PEM file.
    static func load(pemFile path: String) throws(SignatureSetupError) -> Certificate {
        guard let bio = BIO_new_file(path, "r") else {
            throw .keyLoadFailed(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "cannot open file")
        }
        defer { BIO_free(bio) }
        guard let x509 = PEM_read_bio_X509(bio, nil, nil, nil) else {
            throw .keyLoadFailed(path: path, message: SignatureLibrary.takeOpenSSLErrors() ?? "no PEM certificate")
        }
        return Certificate(owning: x509)
    }

    /// The DER encoding.
    var der: [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &output)
        guard length > 0, let output else { return [] }
        defer { CRYPTO_free(output, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: output, count: Int(length)))
    }

    /// The subject distinguished name in RFC 2253 form (`CN=…,O=…,C=DE`).
    var subject: String { Self.subject(of: pointer) }

    /// The subject DN of any `X509*` (RFC 2253).
    static func subject(of x509: OpaquePointer) -> String { text(of: X509_get_subject_name(x509)) }

    /// The issuer distinguished name in RFC 2253 form.
    var issuer: String { Self.text(of: X509_get_issuer_name(pointer)) }

    /// The subject's serialNumber attribute (OID 2.5.4.5), if present.
    var subjectSerialNumber: String? { subjectAttribute(NID_serialNumber) }

    /// The subject's commonName, if present.
    var commonName: String? { subjectAttribute(NID_commonName) }

    /// The subjectAltName URIs.
    var subjectAlternativeURIs: [String] {
        guard let raw = X509_get_ext_d2i(pointer, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var uris: [String] = []
        for index in 0..<OPENSSL_sk_num(names) {
            guard let item = OPENSSL_sk_value(names, index) else { continue }
            let name = item.assumingMemoryBound(to: GENERAL_NAME.self)
            guard name.pointee.type == GEN_URI, let uri = name.pointee.d.uniformResourceIdentifier else { continue }
            if let text = Self.string(UnsafePointer(uri)) { uris.append(text) }
        }
        return uris
    }

    /// The SHA-256 fingerprint of the DER encoding, lower-case hex without separators.
    var fingerprintSHA256: String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(pointer, EVP_sha256(), &digest, &length) == 1 else { return "" }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(Int(length) * 2)
        for byte in digest.prefix(Int(length)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// Whether the certificate has a keyUsage extension that allows digitalSignature or
    /// nonRepudiation. A certificate without the extension does not qualify: Stadtbus only
    /// accepts certificates issued for signing.
    var allowsSigning: Bool {
        let flags = X509_get_extension_flags(pointer)
        guard flags & UInt32(EXFLAG_KUSAGE) != 0 else { return false }
        let usage = X509_get_key_usage(pointer)
        return usage & UInt32(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION) != 0
    }

    /// The validity period's end as text (for messages).
    var notAfter: String { Self.time(X509_get0_notAfter(pointer)) }

    /// Whether this certificate's subject is `other`'s issuer (and signed it).
    func issued(_ other: Certificate) -> Bool {
        X509_check_issued(pointer, other.pointer) == X509_V_OK
    }

    /// The public summary.
    var summary: CertificateSummary {
        CertificateSummary(
            subject: subject, issuer: issuer, serialNumber: subjectSerialNumber, commonName: commonName,
            subjectAlternativeURIs: subjectAlternativeURIs, fingerprintSHA256: fingerprintSHA256)
    }

    private func subjectAttribute(_ nid: Int32) -> String? {
        guard let name = X509_get_subject_name(pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, nid, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
            let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        return Self.string(UnsafePointer(data))
    }

    private static func string(_ asn1: UnsafePointer<ASN1_STRING>) -> String? {
        var output: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&output, asn1)
        guard length >= 0, let output else { return nil }
        defer { CRYPTO_free(output, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: output, count: Int(length)), as: UTF8.self)
    }

    /// A distinguished name in RFC 2253 form (UTF-8).
    static func text(of name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        // RFC 2253 order and escaping, but UTF-8 output (no \\UXXXX escapes for umlauts).
        let flags =
            UInt(
                ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL | ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN
                    | ASN1_STRFLGS_DUMP_DER) | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV)
        guard X509_NAME_print_ex(bio, name, 0, flags) >= 0 else { return "" }
        return drain(bio)
    }

    private static func time(_ time: UnsafePointer<ASN1_TIME>?) -> String {
        guard let time, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard ASN1_TIME_print(bio, time) == 1 else { return "" }
        return drain(bio)
    }

    private static func drain(_ bio: OpaquePointer) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let count = BIO_read(bio, &chunk, Int32(chunk.count))
            if count <= 0 { break }
            bytes.append(contentsOf: chunk.prefix(Int(count)))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// What a certificate says about its holder, for logs, audit records and identity rules.
public struct CertificateSummary: Equatable, Hashable, Sendable, Codable {
    /// Subject DN (RFC 2253).
    public var subject: String
    /// Issuer DN (RFC 2253).
    public var issuer: String
    /// Subject serialNumber attribute, e.g. `ags:01061046`.
    public var serialNumber: String?
    /// Subject common name.
    public var commonName: String?
    /// subjectAltName URIs, e.g. `urn:de:ags:01061046`.
    public var subjectAlternativeURIs: [String]
    /// SHA-256 fingerprint of the DER certificate (lower-case hex, no separators).
    public var fingerprintSHA256: String

    public init(
        subject: String, issuer: String, serialNumber: String?, commonName: String?,
        subjectAlternativeURIs: [String], fingerprintSHA256: String
    ) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
        self.commonName = commonName
        self.subjectAlternativeURIs = subjectAlternativeURIs
        self.fingerprintSHA256 = fingerprintSHA256
    }
}
