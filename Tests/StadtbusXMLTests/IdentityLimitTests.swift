import StadtbusXML
import XCTest

/// Issue 12, item 1: a message identity too long to travel as an AMQP message-id is refused at
/// header extraction with a specific reason (the engine dead-letters it), never published.
final class IdentityLimitTests: XCTestCase {
    private let extractor: HeaderExtractor = {
        do { return try HeaderExtractor() } catch { fatalError("built-in profiles must compile: \(error)") }
    }()
    private let example = "xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml"
    private let exampleUUID = "60f6667b-fa45-4bd7-b717-f4d6c65e5edb"

    private func header(identity: String) throws -> MessageHeader {
        let text = String(decoding: try SharedMaterial.bytes(example), as: UTF8.self)
            .replacingOccurrences(of: exampleUUID, with: identity)
        return try extractor.header(of: try XMLDocument(parsing: Array(text.utf8)))
    }

    func testOverlongIdentityIsRefusedWithItsSize() throws {
        XCTAssertThrowsError(try header(identity: String(repeating: "a", count: 312))) { error in
            XCTAssertEqual(error as? HeaderError, .identityTooLong(profile: "xoev-g2g", bytes: 312, limit: 200))
            XCTAssertTrue("\(error)".contains("message identity is 312 bytes; at most 200 are accepted"), "\(error)")
        }
        // Bytes, not characters: 101 × "ü" is 202 bytes.
        XCTAssertThrowsError(try header(identity: String(repeating: "ü", count: 101))) { error in
            XCTAssertEqual(error as? HeaderError, .identityTooLong(profile: "xoev-g2g", bytes: 202, limit: 200))
        }
    }

    func testIdentityAtTheLimitIsAccepted() throws {
        let identity = String(repeating: "b", count: MessageHeader.maximumIdentityBytes)
        XCTAssertEqual(try header(identity: identity).messageID, identity)
    }
}
