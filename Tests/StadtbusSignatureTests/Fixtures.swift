import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// Paths, real XÖV messages and the development PKI (created by `certs/make-dev-certs`,
/// plus extra certificates made with openssl in a temporary directory).
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let shared: URL = {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// A real message from `shared/xoev/…` as text.
    static func message(_ relative: String) throws -> String {
        try String(contentsOf: shared.appendingPathComponent("xoev").appendingPathComponent(relative), encoding: .utf8)
    }

    static let xbeteiligung = "xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml"
    static let xwasser = "xwasser-1.0.0/examples/quality_report_minimal.xml"
    static let xdomea = "xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml"

    /// The XBeteiligung message with its author kennung (`xyz:0001`) replaced.
    static func xbeteiligung(author: String) throws -> String {
        try replacingFirst(
            "<bn-beh:kennung>xyz:0001</bn-beh:kennung>", with: "<bn-beh:kennung>\(author)</bn-beh:kennung>",
            in: try message(xbeteiligung))
    }

    /// The XWasser message with its author kennung (`psw:01003110`) replaced.
    static func xwasser(author: String) throws -> String {
        try replacingFirst(
            "<kennung>psw:01003110</kennung>", with: "<kennung>\(author)</kennung>", in: try message(xwasser))
    }

    /// The xdomea message with the sender's Behoerdenschluessel code replaced.
    static func xdomea(author: String) throws -> String {
        try replacingFirst("<code>LATh</code>", with: "<code>\(author)</code>", in: try message(xdomea))
    }

    static func replacingFirst(_ target: String, with replacement: String, in text: String) throws -> String {
        let range = try XCTUnwrap(text.range(of: target), "'\(target)' not found")
        return text.replacingCharacters(in: range, with: replacement)
    }

    // MARK: PKI

    static var trustDirectory: String { packageRoot.appendingPathComponent("certs/trust").path }
    static func authority(_ file: String) -> String {
        packageRoot.appendingPathComponent("certs/out/authorities").appendingPathComponent(file).path
    }

    /// Runs `certs/make-dev-certs` (idempotent) and creates the extra certificates once.
    static let extras: Result<String, any Error> = Result {
        try run("'\(packageRoot.path)/certs/make-dev-certs' >/dev/null")
        let ca = packageRoot.appendingPathComponent("certs/out/ca").path
        // Reused across runs while the development CA stays the same (the script is idempotent).
        let caID = try run(
            "openssl x509 -noout -fingerprint -sha256 -in '\(ca)/ca.pem' | cut -d= -f2 | tr -d ':' | cut -c1-16"
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-sig-fixtures-\(caID)")
            .path
        try run(extraCertificatesScript, environment: ["OUT": directory, "CA": ca])
        return directory
    }

    /// Directory of the extra certificates (`other-ca`, `expired`, `wrong-usage`, `no-identity`).
    static func extraDirectory() throws -> String { try extras.get() }

    static func key(_ name: String, directory: String? = nil) throws -> SigningKey {
        let dir =
            try directory
            ?? {
                _ = try extras.get()
                return packageRoot.appendingPathComponent("certs/out/authorities").path
            }()
        return try SigningKey(pemKey: "\(dir)/\(name).key", certificate: "\(dir)/\(name).pem")
    }

    static func extraKey(_ name: String) throws -> SigningKey {
        try key(name, directory: try extraDirectory())
    }

    static func verifier(_ identities: SignerIdentities = SignerIdentities(), at time: Date? = nil) throws
        -> SignatureVerifier
    {
        _ = try extras.get()
        return try SignatureVerifier(
            trustStore: try TrustStore(directory: trustDirectory), identities: identities, validationTime: time)
    }

    static let extractor: HeaderExtractor? = try? HeaderExtractor()

    /// Signs `xml` and returns the serialised signed document.
    static func sign(_ xml: String, with key: SigningKey) throws -> String {
        let document = try XMLDocument(parsing: xml)
        try key.sign(document)
        return try document.serializedString()
    }

    /// Parses `xml` afresh, reads its header and verifies it.
    @discardableResult
    static func verify(_ xml: String, with verifier: SignatureVerifier) throws -> VerifiedSignature {
        let document = try XMLDocument(parsing: xml)
        let header = try XCTUnwrap(extractor).header(of: document)
        return try verifier.verify(document, header: header)
    }

    /// Runs a shell command; throws with its output when it fails.
    @discardableResult
    static func run(_ command: String, environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(command: command, status: process.terminationStatus, output: output)
        }
        return output
    }

    struct CommandFailed: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let output: String
        var description: String { "`\(command)` exited with \(status): \(output)" }
    }

    /// Extra certificates: a foreign CA and a certificate it issued, and from the development
    /// CA an expired certificate, one without signing key usage and one without identity.
    private static let extraCertificatesScript = #"""
        set -euo pipefail
        umask 077
        mkdir -p "$OUT/ca-db" && cd "$OUT"
        ext_sign='basicConstraints=CA:FALSE
        keyUsage=critical,digitalSignature,nonRepudiation
        subjectAltName=URI:urn:de:ags:01061046'
        subj='/C=DE/O=Stadt Itzehoe/OU=Stadtbus/CN=Stadt Itzehoe/serialNumber=ags:01061046'
        # A CA that is not in the trust store, and an Itzehoe certificate it issued.
        if [ ! -f other-ca.pem ]; then
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -keyout other-ca.key \
                -out other-ca.pem -subj '/C=DE/O=Somebody Else/CN=Foreign CA' \
                -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.csr -subj "$subj" 2>/dev/null
            openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 365 -sha256 \
                -out other.pem -extfile <(printf '%s\n' "$ext_sign") 2>/dev/null
        fi
        # Issued by the development CA but expired in 2021 (openssl ca can set past dates).
        if [ ! -f expired.pem ]; then
            : > ca-db/index.txt && echo 1000 > ca-db/serial
            printf '%s\n' '[ca]' 'default_ca=dev' '[dev]' "dir=$OUT/ca-db" 'database=$dir/index.txt' \
                'new_certs_dir=$dir' 'serial=$dir/serial' 'default_md=sha256' 'policy=any' 'unique_subject=no' \
                '[any]' 'commonName=supplied' > ca.cnf
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout expired.key -out expired.csr -subj "$subj" 2>/dev/null
            openssl ca -batch -config ca.cnf -cert "$CA/ca.pem" -keyfile "$CA/ca.key" -in expired.csr -out expired.pem \
                -startdate 20200101000000Z -enddate 20210101000000Z -preserveDN -notext \
                -extfile <(printf '%s\n' "$ext_sign") 2>/dev/null
        fi
        # Issued by the development CA for key encipherment only.
        if [ ! -f wrong-usage.pem ]; then
            openssl req -new -newkey rsa:2048 -nodes -keyout wrong-usage.key -out wrong-usage.csr -subj "$subj" 2>/dev/null
            openssl x509 -req -in wrong-usage.csr -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAserial ca-db/dev.srl -CAcreateserial \
                -days 365 -sha256 -out wrong-usage.pem \
                -extfile <(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,keyEncipherment' 'subjectAltName=URI:urn:de:ags:01061046') 2>/dev/null
        fi
        # Issued by the development CA for signing, but naming no AGS identity.
        if [ ! -f no-identity.pem ]; then
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout no-identity.key -out no-identity.csr \
                -subj '/C=DE/O=Stadtbus Development/CN=Fachverfahren Test' 2>/dev/null
            openssl x509 -req -in no-identity.csr -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAserial ca-db/dev.srl -CAcreateserial \
                -days 365 -sha256 -out no-identity.pem \
                -extfile <(printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature') 2>/dev/null
        fi
        # An encrypted PKCS#8 copy of Itzehoe's EC key (passphrase "geheim"), and a weak RSA-1024 key.
        if [ ! -f itzehoe-ec-encrypted.key ]; then
            openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$CA/../authorities/itzehoe-ec.key" -out itzehoe-ec-encrypted.key -passout pass:geheim
        fi
        if [ ! -f weak.pem ]; then
            openssl req -new -newkey rsa:1024 -nodes -keyout weak.key -out weak.csr -subj "$subj" 2>/dev/null
            openssl x509 -req -in weak.csr -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAserial ca-db/dev.srl -CAcreateserial \
                -days 365 -sha256 -out weak.pem -extfile <(printf '%s\n' "$ext_sign") 2>/dev/null
        fi
        """#
}

/// Asserts that `body` throws the ``SignatureFailure`` with `reason`.
func assertRejected(
    _ reason: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected rejection '\(reason)', but verification succeeded", file: file, line: line)
    } catch let failure as SignatureFailure {
        XCTAssertEqual(failure.reason, reason, "\(failure)", file: file, line: line)
    } catch {
        XCTFail("expected rejection '\(reason)', got \(error)", file: file, line: line)
    }
}
