import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// Every rejection reason, each with a crafted message.
final class RejectionTests: XCTestCase {
    private func itzehoeSigned(_ keyName: String = "itzehoe-ec") throws -> String {
        try Fixtures.sign(try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.key(keyName))
    }

    /// The Signature element of a signed document, as text.
    private func signatureElement(of signed: String) throws -> String {
        let start = try XCTUnwrap(signed.range(of: "<ds:Signature "))
        let end = try XCTUnwrap(signed.range(of: "</ds:Signature>"))
        return String(signed[start.lowerBound..<end.upperBound])
    }

    func testUnsignedMessage() throws {
        assertRejected("no-signature") {
            try Fixtures.verify(try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.verifier())
        }
    }

    func testTwoSignatures() throws {
        let signed = try itzehoeSigned()
        let signature = try signatureElement(of: signed)
        let doubled = signed.replacingOccurrences(of: signature, with: signature + signature)
        assertRejected("multiple-signatures") { try Fixtures.verify(doubled, with: try Fixtures.verifier()) }
    }

    func testTamperedBodyIsABadDigest() throws {
        for keyName in ["itzehoe-ec", "itzehoe-rsa"] {
            let signed = try itzehoeSigned(keyName)
            let tampered = try Fixtures.replacingFirst(
                "<bn-beh:name>behoerde2</bn-beh:name>", with: "<bn-beh:name>behoerde3</bn-beh:name>", in: signed)
            assertRejected("bad-digest") { try Fixtures.verify(tampered, with: try Fixtures.verifier()) }
        }
    }

    func testTamperedSignatureValue() throws {
        for keyName in ["itzehoe-ec", "itzehoe-rsa"] {
            let signed = try itzehoeSigned(keyName)
            let start = try XCTUnwrap(signed.range(of: "<ds:SignatureValue>")).upperBound
            let index = signed.index(start, offsetBy: 10)
            let flipped: Character = signed[index] == "A" ? "B" : "A"
            let tampered = signed.replacingCharacters(in: index...index, with: String(flipped))
            assertRejected("bad-signature-value") { try Fixtures.verify(tampered, with: try Fixtures.verifier()) }
        }
    }

    /// A DigestValue taken from other content no longer matches this document.
    func testSwappedDigestValueIsABadDigest() throws {
        let signed = try itzehoeSigned()
        let other = try Fixtures.sign(
            try Fixtures.xwasser(author: "ags:01061046"), with: try Fixtures.key("itzehoe-ec"))
        func digest(_ text: String) throws -> String {
            let start = try XCTUnwrap(text.range(of: "<ds:DigestValue>")).upperBound
            let end = try XCTUnwrap(text.range(of: "</ds:DigestValue>")).lowerBound
            return String(text[start..<end])
        }
        let forged = signed.replacingOccurrences(of: try digest(signed), with: try digest(other))
        assertRejected("bad-digest") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    /// Changing SignedInfo (here: adding an Id) leaves the digest intact but breaks the
    /// signature value, which covers the canonical SignedInfo.
    func testTamperedSignedInfoIsABadSignatureValue() throws {
        let signed = try itzehoeSigned("itzehoe-rsa")
        let forged = signed.replacingOccurrences(of: "<ds:SignedInfo>", with: #"<ds:SignedInfo Id="x">"#)
        assertRejected("bad-signature-value") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    func testCertificateFromAnotherCA() throws {
        let signed = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.extraKey("other"))
        assertRejected("untrusted-chain") { try Fixtures.verify(signed, with: try Fixtures.verifier()) }
    }

    func testExpiredCertificate() throws {
        let signed = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.extraKey("expired"))
        XCTAssertThrowsError(try Fixtures.verify(signed, with: try Fixtures.verifier())) { error in
            guard case .expired(let detail) = error as? SignatureFailure else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("certificate has expired"), detail)
            XCTAssertTrue(detail.contains("depth 0"), detail)
        }
    }

    func testNotYetValidCertificate() throws {
        let signed = try itzehoeSigned()
        let before = Date(timeIntervalSince1970: 1_000_000_000)  // 2001, before the dev CA existed
        assertRejected("expired") { try Fixtures.verify(signed, with: try Fixtures.verifier(at: before)) }
    }

    func testWrongKeyUsage() throws {
        let signed = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.extraKey("wrong-usage"))
        assertRejected("wrong-key-usage") { try Fixtures.verify(signed, with: try Fixtures.verifier()) }
    }

    func testBreitenburgSigningForItzehooeIsAnIdentityMismatch() throws {
        let signed = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.key("breitenburg-rsa"))
        XCTAssertThrowsError(try Fixtures.verify(signed, with: try Fixtures.verifier())) { error in
            XCTAssertEqual(
                error as? SignatureFailure, .identityMismatch(expected: "ags:01061046", actual: "ags:01061017"))
        }
    }

    func testCertificateWithoutIdentityIsAnUnknownSigner() throws {
        let key = try Fixtures.extraKey("no-identity")
        let signed = try Fixtures.sign(try Fixtures.xbeteiligung(author: "ags:01061046"), with: key)
        assertRejected("unknown-signer") { try Fixtures.verify(signed, with: try Fixtures.verifier()) }
        // An explicit rule makes it known.
        let identities = SignerIdentities(rules: [
            "ags:01061046": [.fingerprintSHA256(key.certificate.fingerprintSHA256)]
        ])
        XCTAssertNoThrow(try Fixtures.verify(signed, with: try Fixtures.verifier(identities)))
    }

    func testSignatureWithoutCertificateIsAnUnknownSigner() throws {
        let signed = try itzehoeSigned()
        let start = try XCTUnwrap(signed.range(of: "<ds:KeyInfo>"))
        let end = try XCTUnwrap(signed.range(of: "</ds:KeyInfo>"))
        let stripped = signed.replacingCharacters(in: start.lowerBound..<end.upperBound, with: "")
        assertRejected("unknown-signer") { try Fixtures.verify(stripped, with: try Fixtures.verifier()) }
    }

    // MARK: Signature wrapping

    /// A forged message (header claims another author) wraps the genuinely signed one.
    func testForgedRootAroundASignedElement() throws {
        let signed = try itzehoeSigned()
        let body = try XCTUnwrap(signed.range(of: "?>")).upperBound
        let forged = try Fixtures.xbeteiligung(author: "ags:01061046")
            .replacingOccurrences(
                of: "</xbeteiligung:kommunal.Aktualisieren.0402>",
                with: "<Anhang>" + signed[body...] + "</Anhang></xbeteiligung:kommunal.Aktualisieren.0402>"
            )
            .replacingOccurrences(
                of: "<bn-beh:name>behoerde2</bn-beh:name>", with: "<bn-beh:name>Angreifer</bn-beh:name>")
        assertRejected("wrapped-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    /// The original content moved into a ds:Object, a forged document around the signature.
    func testOriginalContentMovedIntoAnObject() throws {
        let signed = try itzehoeSigned()
        let signature = try signatureElement(of: signed)
        let body = try XCTUnwrap(signed.range(of: "?>")).upperBound
        let original = String(signed[body...]).replacingOccurrences(of: signature, with: "")
        let withObject = signature.replacingOccurrences(
            of: "</ds:Signature>", with: "<ds:Object>\(original)</ds:Object></ds:Signature>")
        let forged = try Fixtures.xbeteiligung(author: "ags:01061046")
            .replacingOccurrences(
                of: "</xbeteiligung:kommunal.Aktualisieren.0402>",
                with: withObject + "</xbeteiligung:kommunal.Aktualisieren.0402>")
        assertRejected("wrapped-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    func testReferenceToAnIDAttribute() throws {
        let signed = try itzehoeSigned()
        let forged = signed.replacingOccurrences(of: #"<ds:Reference URI="">"#, with: ##"<ds:Reference URI="#kopf">"##)
            .replacingOccurrences(of: "<bn-g2g:nachrichtenkopf.g2g>", with: #"<bn-g2g:nachrichtenkopf.g2g Id="kopf">"#)
        assertRejected("wrapped-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    func testSignatureNotAChildOfTheRoot() throws {
        let signed = try itzehoeSigned()
        let signature = try signatureElement(of: signed)
        let moved = signed.replacingOccurrences(of: signature, with: "")
            .replacingOccurrences(
                of: "</bn-g2g:nachrichtenkopf.g2g>", with: signature + "</bn-g2g:nachrichtenkopf.g2g>")
        assertRejected("wrapped-signature") { try Fixtures.verify(moved, with: try Fixtures.verifier()) }
    }

    func testExtraReference() throws {
        let signed = try itzehoeSigned()
        let start = try XCTUnwrap(signed.range(of: #"<ds:Reference URI="">"#))
        let end = try XCTUnwrap(signed.range(of: "</ds:Reference>"))
        let reference = String(signed[start.lowerBound..<end.upperBound])
        let forged = signed.replacingOccurrences(of: reference, with: reference + reference)
        assertRejected("wrapped-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    func testXPathTransform() throws {
        let signed = try itzehoeSigned()
        let xpath =
            #"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>ancestor-or-self::bn-g2g:nachrichtenkopf.g2g</ds:XPath></ds:Transform>"#
        let forged = signed.replacingOccurrences(of: "<ds:Transforms>", with: "<ds:Transforms>" + xpath)
        assertRejected("wrapped-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    // MARK: Malformed

    func testKeyInfoLookupsAreRefused() throws {
        let signed = try itzehoeSigned()
        for lookup in [
            "<ds:KeyName>itzehoe</ds:KeyName>",
            #"<ds:RetrievalMethod URI="http://example.org/cert" Type="http://www.w3.org/2000/09/xmldsig#X509Data"/>"#,
        ] {
            let forged = signed.replacingOccurrences(of: "<ds:KeyInfo>", with: "<ds:KeyInfo>" + lookup)
            assertRejected("malformed-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
        }
    }

    func testWeakAlgorithmsAreRefused() throws {
        let signed = try itzehoeSigned("itzehoe-rsa")
        let sha1 = signed.replacingOccurrences(
            of: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", with: "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
        assertRejected("malformed-signature") { try Fixtures.verify(sha1, with: try Fixtures.verifier()) }
        let hmac = signed.replacingOccurrences(
            of: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            with: "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
        assertRejected("malformed-signature") { try Fixtures.verify(hmac, with: try Fixtures.verifier()) }
    }

    func testGarbageCertificateIsMalformed() throws {
        let signed = try itzehoeSigned()
        let start = try XCTUnwrap(signed.range(of: "<ds:X509Certificate>")).upperBound
        let forged = signed.replacingCharacters(
            in: start..<signed.index(start, offsetBy: 20), with: "AAAAAAAAAAAAAAAAAAAA")
        assertRejected("malformed-signature") { try Fixtures.verify(forged, with: try Fixtures.verifier()) }
    }

    func testTooManyCertificatesInKeyInfo() throws {
        let signed = try itzehoeSigned()
        let start = try XCTUnwrap(signed.range(of: "<ds:X509Certificate>"))
        let end = try XCTUnwrap(signed.range(of: "</ds:X509Certificate>"))
        let certificate = String(signed[start.lowerBound..<end.upperBound])
        let flooded = signed.replacingOccurrences(of: certificate, with: String(repeating: certificate, count: 9))
        assertRejected("malformed-signature") { try Fixtures.verify(flooded, with: try Fixtures.verifier()) }
    }

    /// A verifier remembers validated certificates; it must still check every message.
    func testOneVerifierKeepsCheckingAfterAcceptingACertificate() throws {
        let verifier = try Fixtures.verifier()
        let signed = try itzehoeSigned()
        XCTAssertNoThrow(try Fixtures.verify(signed, with: verifier))
        XCTAssertNoThrow(try Fixtures.verify(signed, with: verifier))
        let tampered = signed.replacingOccurrences(of: "behoerde2", with: "behoerde3")
        assertRejected("bad-digest") { try Fixtures.verify(tampered, with: verifier) }
        let forged = signed.replacingOccurrences(of: "<ds:SignedInfo>", with: #"<ds:SignedInfo Id="x">"#)
        assertRejected("bad-signature-value") { try Fixtures.verify(forged, with: verifier) }
        let otherAuthor = signed.replacingOccurrences(of: "ags:01061046", with: "ags:01061017")
        assertRejected("bad-digest") { try Fixtures.verify(otherAuthor, with: verifier) }
        // Itzehoe's certificate under a message (correctly signed) that claims Breitenburg.
        let claimsBreitenburg = try Fixtures.sign(
            try Fixtures.xbeteiligung(author: "ags:01061017"), with: try Fixtures.key("itzehoe-ec"))
        assertRejected("identity-mismatch") { try Fixtures.verify(claimsBreitenburg, with: verifier) }
    }

    func testReasonCodesAreStableAndDistinct() {
        let all: [SignatureFailure] = [
            .noSignature, .multipleSignatures(count: 2), .badDigest, .badSignatureValue, .unknownSigner(""),
            .expired(""),
            .untrustedChain(""), .wrongKeyUsage, .identityMismatch(expected: "a", actual: "b"), .wrappedSignature(""),
            .malformed(""),
        ]
        XCTAssertEqual(
            all.map(\.reason),
            [
                "no-signature", "multiple-signatures", "bad-digest", "bad-signature-value", "unknown-signer", "expired",
                "untrusted-chain", "wrong-key-usage", "identity-mismatch", "wrapped-signature", "malformed-signature",
            ])
        XCTAssertTrue(all.allSatisfy { !$0.description.isEmpty })
    }
}
