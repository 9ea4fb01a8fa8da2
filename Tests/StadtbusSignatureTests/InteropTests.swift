import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// Stadtbus signatures against the reference implementation, the `xmlsec1` command.
final class InteropTests: XCTestCase {
    private var workDirectory: String = ""

    override func setUpWithError() throws {
        workDirectory = try Fixtures.extraDirectory()
    }

    func testStadtbusSignatureVerifiesWithXmlsec1() throws {
        for keyName in ["itzehoe-ec", "itzehoe-rsa"] {
            let signed = try Fixtures.sign(
                try Fixtures.xbeteiligung(author: "ags:01061046"), with: try Fixtures.key(keyName))
            let path = "\(workDirectory)/stadtbus-signed-\(keyName).xml"
            try signed.write(toFile: path, atomically: true, encoding: .utf8)
            let output = try Fixtures.run(
                "xmlsec1 --verify --trusted-pem '\(Fixtures.trustDirectory)/dev-ca.pem' --enabled-reference-uris empty '\(path)' 2>&1"
            )
            XCTAssertTrue(output.contains("OK"), output)

            // …and xmlsec1 notices tampering too (the check above can fail).
            let tampered = signed.replacingOccurrences(of: "behoerde2", with: "behoerde3")
            try tampered.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(
                try Fixtures.run(
                    "xmlsec1 --verify --trusted-pem '\(Fixtures.trustDirectory)/dev-ca.pem' '\(path)' 2>&1"))
        }
    }

    func testXmlsec1SignatureVerifiesInStadtbus() throws {
        for keyName in ["itzehoe-ec", "itzehoe-rsa"] {
            let method = keyName.hasSuffix("-ec") ? "ecdsa-sha256" : "rsa-sha256"
            let template = """
                <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>\
                <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
                <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#\(method)"/>\
                <Reference URI=""><Transforms>\
                <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>\
                <Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>\
                <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference>\
                </SignedInfo><SignatureValue/><KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo></Signature>
                """
            let message = try Fixtures.xwasser(author: "ags:01061046")
                .replacingOccurrences(
                    of: "</xwas:vorgang.transportieren.2010>", with: template + "</xwas:vorgang.transportieren.2010>")
            let input = "\(workDirectory)/template-\(keyName).xml"
            let output = "\(workDirectory)/xmlsec1-signed-\(keyName).xml"
            try message.write(toFile: input, atomically: true, encoding: .utf8)
            try Fixtures.run(
                "xmlsec1 --sign --privkey-pem '\(Fixtures.authority("\(keyName).key")),\(Fixtures.authority("\(keyName).pem"))' --output '\(output)' '\(input)'"
            )
            let signed = try String(contentsOfFile: output, encoding: .utf8)
            let result = try Fixtures.verify(signed, with: try Fixtures.verifier())
            XCTAssertEqual(result.kennung, "ags:01061046")
            XCTAssertTrue(result.algorithm.hasSuffix(method))
        }
    }
}
