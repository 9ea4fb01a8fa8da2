import Foundation
import StadtbusSignature
import StadtbusXML
import XCTest

/// The freshness window on the XÖV header's creation time (issue 12, item 11 c).
final class FreshnessTests: XCTestCase {
    /// The verifier's clock, fixed for the whole test; creation times are relative to it.
    private let now = Date()

    private func verifier(maxAge: Duration? = .seconds(7 * 86_400), maxFuture: Duration = .seconds(300)) throws
        -> SignatureVerifier
    {
        _ = try Fixtures.extraDirectory()
        return try SignatureVerifier(
            trustStore: TrustStore(directory: Fixtures.trustDirectory), validationTime: now,
            policy: VerificationPolicy(maxAge: maxAge, maxFuture: maxFuture))
    }

    /// Breitenburg's signed message created `offset` seconds from `now` (UTC, or without time
    /// zone), or with no creation time at all, or with `literal` as creation time.
    private func message(offset: TimeInterval? = nil, zoned: Bool = true, literal: String? = nil) throws -> String {
        var text = try Fixtures.xbeteiligung(author: "ags:01061017")
        let element = try XCTUnwrap(
            text.range(
                of: #"<bn-g2g:erstellungszeitpunkt>[^<]*</bn-g2g:erstellungszeitpunkt>"#, options: .regularExpression))
        if let offset {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            var stamp = formatter.string(from: now.addingTimeInterval(offset))
            if !zoned { stamp.removeLast() }  // "…Z" → local time without zone
            text.replaceSubrange(element, with: "<bn-g2g:erstellungszeitpunkt>\(stamp)</bn-g2g:erstellungszeitpunkt>")
        } else if let literal {
            text.replaceSubrange(element, with: "<bn-g2g:erstellungszeitpunkt>\(literal)</bn-g2g:erstellungszeitpunkt>")
        } else {
            text.removeSubrange(element)
        }
        return try Fixtures.sign(text, with: try Fixtures.key("breitenburg-ec"))
    }

    private let day: TimeInterval = 86_400

    func testRecentMessagesAreAccepted() throws {
        let verifier = try verifier()
        for offset in [-6 * day, -60, 0, 120] {
            XCTAssertNoThrow(try Fixtures.verify(try message(offset: offset), with: verifier), "offset \(offset)")
        }
    }

    func testAMessageOlderThanMaxAgeIsStale() throws {
        let stale = try message(offset: -8 * day)
        assertRejected("stale-message") { try Fixtures.verify(stale, with: try self.verifier()) }
        // A longer window accepts it; 'off' accepts anything.
        XCTAssertNoThrow(try Fixtures.verify(stale, with: try verifier(maxAge: .seconds(9 * 86_400))))
        XCTAssertNoThrow(try Fixtures.verify(stale, with: try verifier(maxAge: nil)))
    }

    func testAMessageFromTheFutureIsRefused() throws {
        let future = try message(offset: 3_600)
        assertRejected("from-the-future") { try Fixtures.verify(future, with: try self.verifier()) }
        XCTAssertNoThrow(try Fixtures.verify(future, with: try verifier(maxFuture: .seconds(7_200))))
    }

    /// A time without zone may be local time anywhere from UTC-14 to UTC+14 (XML Schema).
    func testATimeWithoutZoneGetsFourteenHoursEitherWay() throws {
        let verifier = try verifier()
        XCTAssertNoThrow(try Fixtures.verify(try message(offset: 2 * 3_600, zoned: false), with: verifier))
        assertRejected("from-the-future") {
            try Fixtures.verify(try self.message(offset: day, zoned: false), with: verifier)
        }
        assertRejected("stale-message") {
            try Fixtures.verify(try self.message(offset: -8 * day, zoned: false), with: verifier)
        }
    }

    func testAMessageWithoutUsableCreationTimeIsRefusedUnlessMaxAgeIsOff() throws {
        let missing = try message()
        assertRejected("no-creation-time") { try Fixtures.verify(missing, with: try self.verifier()) }
        assertRejected("no-creation-time") {
            try Fixtures.verify(try self.message(literal: "2024-05-24"), with: try self.verifier())
        }
        XCTAssertNoThrow(try Fixtures.verify(missing, with: try verifier(maxAge: nil)))
    }

    /// The signature is checked first: a forged stale message is refused for its signature.
    func testTheSignatureIsCheckedBeforeFreshness() throws {
        let tampered = try message(offset: -30 * day).replacingOccurrences(of: "behoerde2", with: "behoerde3")
        assertRejected("bad-digest") { try Fixtures.verify(tampered, with: try self.verifier()) }
    }
}
