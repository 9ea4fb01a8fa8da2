import Foundation
import StadtbusSignature
import StadtbusTestSupport
import StadtbusXML

/// The hostile and broken inputs of scenario 5, each an XBeteiligung application whose
/// nachrichtenUUID (and AMQP message-id) identifies it in the dead-letter queue and the audit trail.
enum HostileMessages {
    /// The application of `uuid` with `author` as the author's kennung.
    static func application(uuid: String, author: String = "ags:01061017") -> String {
        String(decoding: Applications.make(uuid: uuid), as: UTF8.self)
            .replacingOccurrences(
                of: "<ns3:kennung>xyz:0001</ns3:kennung>", with: "<ns3:kennung>\(author)</ns3:kennung>")
    }

    /// The text after the XML declaration (`<?xml …?>`), for documents built around another one.
    static func withoutDeclaration(_ xml: String) -> Substring {
        guard xml.hasPrefix("<?xml"), let end = xml.range(of: "?>") else { return Substring(xml) }
        return xml[end.upperBound...]
    }

    /// An external entity reading a local file (XXE).
    static func externalEntity(uuid: String) -> [UInt8] {
        let doctype =
            #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
            + #"<!DOCTYPE ns5:kommunal.Initiieren.0401 [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>"#
        let body = withoutDeclaration(application(uuid: uuid)).replacingOccurrences(of: "behoerde2", with: "&secret;")
        return Array((doctype + body).utf8)
    }

    /// Billion laughs: ten levels of entities each expanding the previous one ten times.
    static func entityBomb(uuid: String) -> [UInt8] {
        var entities = #"<!ENTITY lol0 "lol">"#
        for level in 1...9 {
            entities += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1);", count: 10) + "\">"
        }
        let doctype =
            #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n<!DOCTYPE ns5:kommunal.Initiieren.0401 [\(entities)]>"
        let body = withoutDeclaration(application(uuid: uuid)).replacingOccurrences(of: "behoerde2", with: "&lol9;")
        return Array((doctype + body).utf8)
    }

    /// A 50 MB body: the application with a 50 MB comment after its header.
    static func oversized(uuid: String) -> [UInt8] {
        let text = application(uuid: uuid)
        let marker = "</ns2:nachrichtenkopf.g2g>"
        guard let split = text.range(of: marker)?.upperBound else { return Array(text.utf8) }
        var bytes = Array(text[..<split].utf8)
        bytes.reserveCapacity(51 * 1024 * 1024)
        bytes += Array("<!--".utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "x"), count: 50 * 1024 * 1024)
        bytes += Array("-->".utf8)
        bytes += Array(text[split...].utf8)
        return bytes
    }

    /// Bytes that are not UTF-8 (0xFF 0xFE) inside a text node of a document declared UTF-8.
    static func invalidUTF8(uuid: String) -> [UInt8] {
        let parts = application(uuid: uuid).components(separatedBy: "behoerde2")
        guard parts.count >= 2 else { return Array(parts.joined().utf8) }
        return Array(parts[0].utf8) + Array("beh".utf8) + [0xFF, 0xFE] + Array("rde2".utf8)
            + Array(parts.dropFirst().joined(separator: "behoerde2").utf8)
    }

    /// A well-formed application whose message type (0499) no route takes.
    static func unknownType(uuid: String) -> [UInt8] {
        let text = application(uuid: uuid)
        guard let code = text.range(of: "<code>0401</code>") else { return Array(text.utf8) }
        return Array(text.replacingCharacters(in: code, with: "<code>0499</code>").utf8)
    }
}

/// Signs applications as Gemeinde Breitenburg (certs/out/authorities/breitenburg-rsa.*, made
/// by certs/make-dev-certs), in process through StadtbusSignature.
struct BreitenburgSigner {
    let key: SigningKey

    init() throws {
        let authorities = Paths.root.appendingPathComponent("certs/out/authorities")
        key = try SigningKey(
            pemKey: authorities.appendingPathComponent("breitenburg-rsa.key").path,
            certificate: authorities.appendingPathComponent("breitenburg-rsa.pem").path)
    }

    /// The application of `uuid`, signed (enveloped XMLDSig, the last child of the root).
    func signed(uuid: String) throws -> String {
        let document = try XMLDocument(parsing: Array(HostileMessages.application(uuid: uuid).utf8))
        try key.sign(document)
        return try document.serializedString()
    }

    /// Signed, then changed on the way: the digest no longer matches.
    func tampered(uuid: String) throws -> [UInt8] {
        Array(try signed(uuid: uuid).replacingOccurrences(of: "behoerde2", with: "behoerde9").utf8)
    }

    /// Signature wrapping: a forged application (`uuid`) carrying a genuinely signed one
    /// (another UUID) in an extra element; the signature is not where it must be.
    func wrapped(uuid: String) throws -> [UInt8] {
        let genuine = try signed(uuid: UUID().uuidString.lowercased())
        let closing = "</ns5:kommunal.Initiieren.0401>"
        let forged = HostileMessages.application(uuid: uuid).replacingOccurrences(of: "behoerde2", with: "Angreifer")
        guard let end = forged.range(of: closing, options: .backwards) else { return Array(forged.utf8) }
        let wrapped = forged.replacingCharacters(
            in: end, with: "<Anhang>" + HostileMessages.withoutDeclaration(genuine) + "</Anhang>" + closing)
        return Array(wrapped.utf8)
    }
}
