import Foundation

/// Which certificate may sign for which authority: binds the author `kennung` of an XÖV
/// header to the signer certificate.
///
/// For an author kennung with explicit ``rules``, the certificate must satisfy at least one
/// of them. Otherwise, when ``derivesAGSIdentity`` is on (the default), the certificate's own
/// identity is used: a subject serialNumber `ags:<AGS>` or a subjectAltName URI
/// `urn:de:ags:<AGS>` both yield `ags:<AGS>`, which must equal the kennung.
/// A plain value: the configuration layer builds it (e.g. from YAML).
public struct SignerIdentities: Sendable, Equatable, Hashable, Codable {
    /// One way a certificate can be recognised.
    public enum Match: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
        /// The certificate's derived AGS identity is `ags:<value>` (value: the 8-digit AGS).
        case ags(String)
        /// The SHA-256 fingerprint of the DER certificate (hex; case and `:` separators ignored).
        case fingerprintSHA256(String)
        /// The subject common name equals the value.
        case subjectCommonName(String)
        /// The subject serialNumber attribute equals the value.
        case subjectSerialNumber(String)
        /// A subjectAltName URI equals the value.
        case subjectAlternativeURI(String)

        /// Parses `kind=value` with kind `ags`, `fingerprint-sha256`, `cn`, `serial` or `san-uri`.
        public init(parsing text: String) throws(SignatureSetupError) {
            guard let equals = text.firstIndex(of: "=") else {
                throw .invalidIdentityRule("'\(text)' is not of the form kind=value")
            }
            let kind = text[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            switch kind {
            case "ags": self = .ags(value)
            case "fingerprint-sha256", "sha256": self = .fingerprintSHA256(value)
            case "cn": self = .subjectCommonName(value)
            case "serial", "serialnumber": self = .subjectSerialNumber(value)
            case "san-uri", "uri": self = .subjectAlternativeURI(value)
            default:
                throw .invalidIdentityRule("unknown kind '\(kind)' (use ags, fingerprint-sha256, cn, serial, san-uri)")
            }
            try validate()
        }

        /// Checks the value (a fingerprint must be 64 hex digits).
        public func validate() throws(SignatureSetupError) {
            if case .fingerprintSHA256(let value) = self {
                let hex = Self.normalizedFingerprint(value)
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                    throw .invalidIdentityRule("'\(value)' is not a SHA-256 fingerprint")
                }
            }
        }

        public var description: String {
            switch self {
            case .ags(let value): return "ags=\(value)"
            case .fingerprintSHA256(let value): return "fingerprint-sha256=\(value)"
            case .subjectCommonName(let value): return "cn=\(value)"
            case .subjectSerialNumber(let value): return "serial=\(value)"
            case .subjectAlternativeURI(let value): return "san-uri=\(value)"
            }
        }

        func matches(_ certificate: CertificateSummary) -> Bool {
            switch self {
            case .ags(let value):
                let ags = value.hasPrefix("ags:") ? String(value.dropFirst(4)) : value
                return (try? SignerIdentities.derivedIdentity(of: certificate)) == "ags:\(ags)"
            case .fingerprintSHA256(let value):
                // Values are normalised when the verifier is created (``normalized()``).
                return value == certificate.fingerprintSHA256
            case .subjectCommonName(let value):
                return certificate.commonName == value
            case .subjectSerialNumber(let value):
                return certificate.serialNumber == value
            case .subjectAlternativeURI(let value):
                return certificate.subjectAlternativeURIs.contains(value)
            }
        }

        static func normalizedFingerprint(_ value: String) -> String {
            value.lowercased().filter { $0 != ":" && !$0.isWhitespace }
        }

        /// The same match with its value in canonical form (fingerprints: lower-case hex).
        func normalized() -> Match {
            if case .fingerprintSHA256(let value) = self {
                return .fingerprintSHA256(Self.normalizedFingerprint(value))
            }
            return self
        }
    }

    /// Explicit rules: author kennung → certificates that may sign for it (any one suffices).
    public var rules: [String: [Match]]
    /// Whether a certificate's own AGS identity (serialNumber / SAN URI) binds it to the
    /// kennung `ags:<AGS>` when no explicit rule names that kennung.
    public var derivesAGSIdentity: Bool

    public init(rules: [String: [Match]] = [:], derivesAGSIdentity: Bool = true) {
        self.rules = rules
        self.derivesAGSIdentity = derivesAGSIdentity
    }

    /// The same rules with values in canonical form, as the verifier compares them.
    public func normalized() -> SignerIdentities {
        SignerIdentities(rules: rules.mapValues { $0.map { $0.normalized() } }, derivesAGSIdentity: derivesAGSIdentity)
    }

    /// Checks every rule's value.
    public func validate() throws(SignatureSetupError) {
        for (kennung, matches) in rules {
            guard !kennung.isEmpty else { throw .invalidIdentityRule("empty kennung") }
            for match in matches { try match.validate() }
        }
    }

    /// The identity a certificate carries by itself: `ags:<AGS>` from its subject
    /// serialNumber (`ags:<AGS>`) or its SAN URI (`urn:de:ags:<AGS>`); `nil` if neither.
    /// - Throws: ``SignatureFailure/unknownSigner(_:)`` when the two name different AGS.
    public static func derivedIdentity(of certificate: CertificateSummary) throws(SignatureFailure) -> String? {
        var found: Set<String> = []
        if let serial = certificate.serialNumber, serial.hasPrefix("ags:"), isAGS(serial.dropFirst(4)) {
            found.insert(serial)
        }
        for uri in certificate.subjectAlternativeURIs where uri.hasPrefix("urn:de:ags:") && isAGS(uri.dropFirst(11)) {
            found.insert("ags:" + uri.dropFirst(11))
        }
        guard found.count <= 1 else {
            throw .unknownSigner(
                "certificate '\(certificate.subject)' names several identities: \(found.sorted().joined(separator: ", "))"
            )
        }
        return found.first
    }

    private static func isAGS(_ text: Substring) -> Bool {
        text.utf8.count == 8 && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Checks that `certificate` may sign for `kennung`.
    /// - Returns: how the binding was established (e.g. `ags:01061046` or `fingerprint-sha256=…`).
    /// - Throws: ``SignatureFailure/identityMismatch(expected:actual:)`` or
    ///   ``SignatureFailure/unknownSigner(_:)``.
    func bind(_ certificate: CertificateSummary, to kennung: String) throws(SignatureFailure) -> String {
        let derived = try Self.derivedIdentity(of: certificate)
        if let explicit = rules[kennung] {
            if let match = explicit.first(where: { $0.matches(certificate) }) { return match.description }
            throw .identityMismatch(expected: kennung, actual: identityName(of: certificate, derived: derived))
        }
        if derivesAGSIdentity, let derived {
            if derived == kennung { return derived }
            throw .identityMismatch(expected: kennung, actual: derived)
        }
        if let other = rules.first(where: { $0.value.contains { $0.matches(certificate) } }) {
            throw .identityMismatch(expected: kennung, actual: other.key)
        }
        throw .unknownSigner(
            "no identity is configured for certificate '\(certificate.subject)' (SHA-256 \(certificate.fingerprintSHA256))"
        )
    }

    private func identityName(of certificate: CertificateSummary, derived: String?) -> String {
        if let derived, derivesAGSIdentity { return derived }
        if let other = rules.first(where: { $0.value.contains { $0.matches(certificate) } }) { return other.key }
        return certificate.subject
    }
}
