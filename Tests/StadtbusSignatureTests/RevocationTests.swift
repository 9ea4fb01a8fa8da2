import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// Revocation by CRLs in the trust store directory (issue 12, item 11 d), cross-checked with
/// `openssl verify -crl_check` (and `xmlsec1 --verify` for the signatures themselves).
final class RevocationTests: XCTestCase {
    private func signed(by name: String) throws -> String {
        try Fixtures.sign(try Fixtures.xbeteiligung(author: "ags:01061046"), with: try TestPKI.key(name))
    }

    func testTheReferenceToolsAgreeOnTheFixtures() throws {
        let ca = try TestPKI.path("ca.pem")
        let crl = try TestPKI.path("ca.crl.pem")
        XCTAssertNoThrow(
            try Fixtures.run(
                "openssl verify -crl_check -CAfile '\(ca)' -CRLfile '\(crl)' '\(try TestPKI.path("good.pem"))'"))
        XCTAssertThrowsError(
            try Fixtures.run(
                "openssl verify -crl_check -CAfile '\(ca)' -CRLfile '\(crl)' '\(try TestPKI.path("revoked.pem"))'"))
        // xmlsec1 (1.2.37 has no CRL option) finds both signatures valid: only revocation sets them apart.
        for name in ["good", "revoked"] {
            let path = try TestPKI.path("signed-\(name).xml")
            try signed(by: name).write(toFile: path, atomically: true, encoding: .utf8)
            let output = try Fixtures.run(
                "xmlsec1 --verify --trusted-pem '\(ca)' --enabled-reference-uris empty '\(path)' 2>&1")
            XCTAssertTrue(output.contains("OK"), output)
        }
    }

    func testARevokedSignerIsRefusedWithDERAndPEMCRLs() throws {
        for crlName in ["ca.crl", "ca.crl.pem"] {
            let store = try TrustStore(directory: try TestPKI.trustDirectory([crlName: crlName]))
            XCTAssertEqual(store.crlCount, 1, crlName)
            let verifier = try SignatureVerifier(trustStore: store)
            let revoked = try signed(by: "revoked")
            assertRejected("certificate-revoked") { try Fixtures.verify(revoked, with: verifier) }
            XCTAssertNoThrow(try Fixtures.verify(try signed(by: "good"), with: verifier), crlName)
        }
    }

    /// Without the CRL the revoked certificate still verifies: the CRL is what refuses it.
    func testWithoutTheCRLTheSameSignerPasses() throws {
        let verifier = try SignatureVerifier(trustStore: TrustStore(directory: try TestPKI.trustDirectory()))
        XCTAssertNoThrow(try Fixtures.verify(try signed(by: "revoked"), with: verifier))
    }

    /// A CA without a CRL in the store is not checked; the CRL of another CA does not stop it.
    func testACAWithoutCRLIsNotAffected() throws {
        let store = try TrustStore(directory: try TestPKI.trustDirectory(["ca.crl": "ca.crl"], withDevelopmentCA: true))
        let verifier = try SignatureVerifier(trustStore: store)
        let itzehoe = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.key("itzehoe-ec"))
        XCTAssertNoThrow(try Fixtures.verify(itzehoe, with: verifier))
        assertRejected("certificate-revoked") { try Fixtures.verify(try self.signed(by: "revoked"), with: verifier) }
    }

    /// A CRL that expires while loaded: its CA's signers are refused until a current one is loaded.
    func testACRLThatExpiredSinceLoadingMakesTheStatusUnknown() throws {
        let store = try TrustStore(directory: try TestPKI.trustDirectory(["ca.crl.pem": "ca.crl.pem"]))
        let later = Date().addingTimeInterval(40 * 86_400)  // the CRL is valid for 30 days
        let verifier = try SignatureVerifier(trustStore: store, validationTime: later)
        assertRejected("revocation-unknown") { try Fixtures.verify(try self.signed(by: "good"), with: verifier) }
    }

    func testUnusableCRLsAreSetupErrors() throws {
        try FileManager.default.createDirectory(atPath: try TestPKI.path("garbage"), withIntermediateDirectories: true)
        let garbage = try TestPKI.path("garbage/broken.crl")
        try Data("not a CRL".utf8).write(to: URL(fileURLWithPath: garbage))
        let cases: [(source: String, name: String, says: String)] = [
            ("expired.crl.pem", "expired.crl.pem", "expired"),
            ("foreign.crl.pem", "foreign.crl.pem", "not a certificate of the trust store"),
            ("forged.crl.pem", "forged.crl", "signature does not verify"),
            ("garbage/broken.crl", "broken.crl", "neither a PEM nor a DER"),
        ]
        for (source, name, says) in cases {
            let directory = try TestPKI.trustDirectory([source: name])
            XCTAssertThrowsError(try TrustStore(directory: directory), name) { error in
                guard case .crlUnusable(let path, let message) = error as? SignatureSetupError else {
                    return XCTFail("\(name): expected crlUnusable, got \(error)")
                }
                XCTAssertTrue(path.hasSuffix(name), path)
                XCTAssertTrue(message.contains(says), "\(name): \(message)")
            }
        }
    }
}
