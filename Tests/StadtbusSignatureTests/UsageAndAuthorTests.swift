import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// `verify` refuses certificates not issued for signing documents (extendedKeyUsage) and this
/// authority's own messages reflected back (issue 12, item 11 a and b).
final class UsageAndAuthorTests: XCTestCase {
    private func signed(_ key: SigningKey, author: String = "ags:01061046") throws -> String {
        try Fixtures.sign(try Fixtures.xbeteiligung(author: author), with: key)
    }

    private func testPKIVerifier() throws -> SignatureVerifier {
        try SignatureVerifier(trustStore: TrustStore(directory: try TestPKI.trustDirectory()))
    }

    func testTLSOnlyCertificateIsRefused() throws {
        // Independently of Stadtbus: OpenSSL itself finds the certificate unfit for signing mail/documents.
        XCTAssertThrowsError(
            try Fixtures.run(
                "openssl verify -purpose smimesign -CAfile '\(try TestPKI.path("ca.pem"))' '\(try TestPKI.path("tls.pem"))'"
            ))
        let verifier = try testPKIVerifier()
        let message = try signed(try TestPKI.key("tls"))
        assertRejected("wrong-extended-key-usage") { try Fixtures.verify(message, with: verifier) }
        do {
            try Fixtures.verify(message, with: verifier)
        } catch let failure as SignatureFailure {
            XCTAssertTrue(failure.description.contains("serverAuth"), failure.description)
        }
    }

    func testCodeSigningCertificateIsRefused() throws {
        let verifier = try testPKIVerifier()
        let message = try signed(try TestPKI.key("code"))
        assertRejected("wrong-extended-key-usage") { try Fixtures.verify(message, with: verifier) }
    }

    func testSigningPurposesAndNoExtendedKeyUsageAreAccepted() throws {
        let verifier = try testPKIVerifier()
        // good: no extendedKeyUsage; email: clientAuth + emailProtection; docsign: documentSigning (RFC 9336).
        for name in ["good", "email", "docsign"] {
            XCTAssertNoThrow(try Fixtures.verify(try signed(try TestPKI.key(name)), with: verifier), name)
        }
    }

    private func ownAuthorVerifier(allow: Bool = false, own: String? = "ags:01061046") throws -> SignatureVerifier {
        _ = try Fixtures.extraDirectory()
        return try SignatureVerifier(
            trustStore: TrustStore(directory: Fixtures.trustDirectory),
            policy: VerificationPolicy(ownKennung: own, allowsOwnAuthor: allow))
    }

    func testOwnMessageReflectedBackIsRefused() throws {
        let reflected = try signed(try Fixtures.key("itzehoe-ec"))
        assertRejected("own-author") { try Fixtures.verify(reflected, with: try self.ownAuthorVerifier()) }
        // Case and blanks in the configured kennung do not matter.
        assertRejected("own-author") {
            try Fixtures.verify(reflected, with: try self.ownAuthorVerifier(own: " AGS:01061046"))
        }
    }

    func testOwnAuthorIsAcceptedWhenAllowedOrNoIdentityIsConfigured() throws {
        let reflected = try signed(try Fixtures.key("itzehoe-ec"))
        XCTAssertNoThrow(try Fixtures.verify(reflected, with: try ownAuthorVerifier(allow: true)))
        XCTAssertNoThrow(try Fixtures.verify(reflected, with: try ownAuthorVerifier(own: nil)))
    }

    func testNeighbourMessagesPassAndImpostorsStayIdentityMismatches() throws {
        let verifier = try ownAuthorVerifier()
        let breitenburg = try Fixtures.key("breitenburg-ec")
        XCTAssertNoThrow(try Fixtures.verify(try signed(breitenburg, author: "ags:01061017"), with: verifier))
        // Breitenburg's key on a message claiming to come from us: the signer check comes first.
        let impostor = try signed(breitenburg, author: "ags:01061046")
        assertRejected("identity-mismatch") { try Fixtures.verify(impostor, with: verifier) }
    }
}
