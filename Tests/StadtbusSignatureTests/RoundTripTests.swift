import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// Signing and verifying real XÖV messages with RSA and ECDSA keys from PEM and PKCS#12.
final class RoundTripTests: XCTestCase {
    func testECDSARoundTripOnXWasserBindsTheAGSIdentity() throws {
        let key = try Fixtures.key("itzehoe-ec")
        XCTAssertEqual(key.algorithm, .ecdsaSHA256)
        let signed = try Fixtures.sign(try Fixtures.xwasser(author: "ags:01061046"), with: key)
        let result = try Fixtures.verify(signed, with: try Fixtures.verifier())
        XCTAssertEqual(result.kennung, "ags:01061046")
        XCTAssertEqual(result.binding, "ags:01061046")
        XCTAssertEqual(result.algorithm, SignatureAlgorithm.ecdsaSHA256.uri)
        XCTAssertEqual(result.signer.serialNumber, "ags:01061046")
        XCTAssertEqual(result.signer.subjectAlternativeURIs, ["urn:de:ags:01061046"])
    }

    func testRSARoundTripOnXdomea() throws {
        let key = try Fixtures.key("itzehoe-rsa")
        XCTAssertEqual(key.algorithm, .rsaSHA256)
        let signed = try Fixtures.sign(try Fixtures.xdomea(author: "ags:01061046"), with: key)
        XCTAssertEqual(try Fixtures.verify(signed, with: try Fixtures.verifier()).kennung, "ags:01061046")
    }

    /// The unmodified XBeteiligung message names `xyz:0001`: an explicit rule binds it.
    func testExplicitFingerprintRuleForANonAGSKennung() throws {
        let key = try Fixtures.key("itzehoe-rsa")
        let fingerprint =
            try Fixtures.run("openssl x509 -noout -fingerprint -sha256 -in '\(Fixtures.authority("itzehoe-rsa.pem"))'")
            .split(separator: "=").last.map(String.init)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let signed = try Fixtures.sign(try Fixtures.message(Fixtures.xbeteiligung), with: key)

        let identities = SignerIdentities(rules: ["xyz:0001": [.fingerprintSHA256(fingerprint)]])
        let result = try Fixtures.verify(signed, with: try Fixtures.verifier(identities))
        XCTAssertEqual(result.kennung, "xyz:0001")
        XCTAssertEqual(
            result.binding, "fingerprint-sha256=\(fingerprint.lowercased().replacingOccurrences(of: ":", with: ""))")

        let byName = SignerIdentities(rules: ["xyz:0001": [try .init(parsing: "cn=Stadt Itzehoe")]])
        XCTAssertEqual(try Fixtures.verify(signed, with: try Fixtures.verifier(byName)).binding, "cn=Stadt Itzehoe")

        // Without a rule, the certificate's own identity (ags:01061046) is not xyz:0001.
        assertRejected("identity-mismatch") { try Fixtures.verify(signed, with: try Fixtures.verifier()) }
        // A rule for xyz:0001 that names another certificate refuses Itzehoe's.
        let other = SignerIdentities(rules: ["xyz:0001": [.subjectCommonName("Gemeinde Breitenburg")]])
        assertRejected("identity-mismatch") { try Fixtures.verify(signed, with: try Fixtures.verifier(other)) }
    }

    func testPKCS12KeyWithPassphraseFromEnvironmentAndFile() throws {
        _ = try Fixtures.extraDirectory()
        let path = Fixtures.authority("itzehoe-rsa.p12")
        let passphrase = ProcessInfo.processInfo.environment["STADTBUS_P12_PASSPHRASE"] ?? "stadtbus-dev"
        setenv("STADTBUS_TEST_P12", passphrase, 1)
        let key = try SigningKey(pkcs12: path, passphrase: .env("STADTBUS_TEST_P12"))
        XCTAssertEqual(key.certificate.serialNumber, "ags:01061046")
        let signed = try Fixtures.sign(try Fixtures.xwasser(author: "ags:01061046"), with: key)
        XCTAssertEqual(try Fixtures.verify(signed, with: try Fixtures.verifier()).signer, key.certificate)
        // The dev CA inside the PKCS#12 file is self-signed: only the signer certificate is sent.
        XCTAssertEqual(signed.components(separatedBy: "<ds:X509Certificate>").count - 1, 1)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-p12-pass-\(getpid())").path
        try (passphrase + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertEqual(try SigningKey(pkcs12: path, passphrase: .file(file)).certificate, key.certificate)

        XCTAssertThrowsError(try SigningKey(pkcs12: path, passphrase: .none))
        setenv("STADTBUS_TEST_P12", "wrong", 1)
        XCTAssertThrowsError(try SigningKey(pkcs12: path, passphrase: .env("STADTBUS_TEST_P12"))) { error in
            guard case SignatureSetupError.keyLoadFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try SigningKey(pkcs12: path, passphrase: .env("STADTBUS_TEST_UNSET_VARIABLE"))) { error in
            guard case SignatureSetupError.secretUnavailable = error else { return XCTFail("\(error)") }
        }
    }

    func testEncryptedPEMKey() throws {
        let directory = try Fixtures.extraDirectory()
        let key = "\(directory)/itzehoe-ec-encrypted.key"
        let certificate = Fixtures.authority("itzehoe-ec.pem")
        setenv("STADTBUS_TEST_PEM_PASS", "geheim", 1)
        let loaded = try SigningKey(pemKey: key, certificate: certificate, passphrase: .env("STADTBUS_TEST_PEM_PASS"))
        let signed = try Fixtures.sign(try Fixtures.xwasser(author: "ags:01061046"), with: loaded)
        XCTAssertNoThrow(try Fixtures.verify(signed, with: try Fixtures.verifier()))
        // Without the passphrase loading fails at once (OpenSSL must never prompt).
        XCTAssertThrowsError(try SigningKey(pemKey: key, certificate: certificate)) { error in
            guard case SignatureSetupError.keyLoadFailed = error else { return XCTFail("\(error)") }
        }
    }

    func testWeakRSAKeyIsRefusedForSigning() throws {
        XCTAssertThrowsError(try Fixtures.extraKey("weak")) { error in
            guard case SignatureSetupError.unsupportedKey = error else { return XCTFail("\(error)") }
        }
    }

    /// XWasser allows signatures inside the payload: they are content, covered by the
    /// transport signature on the document element.
    func testPayloadSignatureDeeperInTheDocumentIsContent() throws {
        let key = try Fixtures.key("itzehoe-ec")
        let payloadSigned = try Fixtures.sign(try Fixtures.xbeteiligung(author: "ags:01061046"), with: key)
        let start = try XCTUnwrap(payloadSigned.range(of: "<ds:Signature "))
        let end = try XCTUnwrap(payloadSigned.range(of: "</ds:Signature>"))
        let inner = String(payloadSigned[start.lowerBound..<end.upperBound])
        let message = try Fixtures.xwasser(author: "ags:01061046")
            .replacingOccurrences(of: "</xwas:vorgang>", with: "<xwas:anlage>\(inner)</xwas:anlage></xwas:vorgang>")
        let signed = try Fixtures.sign(message, with: key)
        XCTAssertEqual(try Fixtures.verify(signed, with: try Fixtures.verifier()).kennung, "ags:01061046")
    }

    func testKeyAndCertificateMustBelongTogether() throws {
        _ = try Fixtures.extraDirectory()
        XCTAssertThrowsError(
            try SigningKey(
                pemKey: Fixtures.authority("itzehoe-ec.key"), certificate: Fixtures.authority("breitenburg-ec.pem"))
        ) { error in
            guard case SignatureSetupError.certificateKeyMismatch = error else { return XCTFail("\(error)") }
        }
    }

    func testSignedDocumentHasOneEnvelopedSignatureAsLastChildOfTheRoot() throws {
        let signed = try Fixtures.sign(
            try Fixtures.xwasser(author: "ags:01061046"), with: try Fixtures.key("itzehoe-ec"))
        XCTAssertTrue(signed.contains(#"<ds:Reference URI="">"#))
        XCTAssertTrue(signed.contains("http://www.w3.org/2000/09/xmldsig#enveloped-signature"))
        XCTAssertTrue(
            signed.contains(#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#))
        let tail = try XCTUnwrap(signed.range(of: "</ds:Signature>")).upperBound
        XCTAssertEqual(
            signed[tail...].trimmingCharacters(in: .whitespacesAndNewlines), "</xwas:vorgang.transportieren.2010>")
        // Signing twice is refused: the result could never verify.
        let document = try XMLDocument(parsing: signed)
        XCTAssertThrowsError(try Fixtures.key("itzehoe-ec").sign(document))
    }

    /// One key and one verifier serve many threads at once.
    func testConcurrentSigningAndVerifying() throws {
        let key = try Fixtures.key("itzehoe-ec")
        let verifier = try Fixtures.verifier()
        let message = try Fixtures.xwasser(author: "ags:01061046")
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            do {
                let signed = try Fixtures.sign(message, with: key)
                try Fixtures.verify(signed, with: verifier)
            } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ item: String) { lock.withLock { items.append(item) } }
    var all: [String] { lock.withLock { items } }
}
