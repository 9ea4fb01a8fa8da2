import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// On a route with `verify`, a message is authenticated before it can be acked as a duplicate
/// (issue 12, item 9): a tampered copy that reuses a delivered message's UUID is dead-lettered
/// with the verifier's reason, while a true redelivery stays a duplicate.
final class VerifyBeforeDuplicateTests: XCTestCase {
    /// Stands in for the XMLDSig verifier (StadtbusSignature; its own tests use real
    /// signatures): accepts exactly the content that was "signed", refuses anything else
    /// with the code the real verifier gives a changed body.
    struct ContentBoundVerifier: SignatureVerifier {
        let signedBetreff: String
        func verify(document: XMLDocument, header: MessageHeader) throws {
            let text = try document.serializedString()
            guard text.contains("<t:betreff>\(signedBetreff)</t:betreff>") else {
                throw SignatureError(
                    code: "bad-digest", message: "the signed content was modified after signing (digest mismatch)")
            }
        }
    }

    private let uuid = "9a8b7c6d-0000-4000-8000-00000000abcd"
    private let betreff = "Bebauungsplan Nr. 7"

    private func original() -> Message {
        Fixtures.message(Fixtures.g2g(uuid: uuid, inhalt: "<t:betreff>\(betreff)</t:betreff>"))
    }

    private func tampered() -> Message {
        Fixtures.message(Fixtures.g2g(uuid: uuid, inhalt: "<t:betreff>Bebauungsplan Nr. 8 (geändert)</t:betreff>"))
    }

    private func harness(extraSteps: [any RouteStep] = []) throws -> Harness {
        let verify = VerifyStep(verifier: ContentBoundVerifier(signedBetreff: betreff))
        return try Harness([
            Route(name: "von-nachbarn", source: "in", steps: [verify] + extraSteps, routing: .to([.endpoint("a")]))
        ])
    }

    func testATamperedCopyOfADeliveredMessageIsDeadLetteredNotAckedAsDuplicate() async throws {
        let h = try harness()
        await assertDisposition(await h.engine.process(original()), .completed)
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)

        let disposition = await h.engine.process(tampered())
        await assertDeadLetter(disposition, step: "verify", reasonContains: "bad-digest")
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1, "the tampered copy is not delivered")
        XCTAssertEqual(try h.kinds(uuid).suffix(3), [.matched, .step, .deadLettered])

        // A true redelivery of the signed original is still a duplicate: acked, not delivered again.
        await assertDisposition(await h.engine.process(original()), .duplicate)
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)
    }

    /// Only the steps up to the last `verify` run before the duplicate check; the rest (here a
    /// mapping) does not run for a duplicate.
    func testARedeliveryRunsTheVerificationButNotTheLaterSteps() async throws {
        let map = MapStep(
            source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet(),
            parameters: ["ort": try Template("Itzehoe")])
        let h = try harness(extraSteps: [map])
        await assertDisposition(await h.engine.process(original()), .completed)
        let stepsBefore = try h.journal.trail(of: uuid).filter { $0.kind == .step }.map(\.detail)
        XCTAssertEqual(stepsBefore, ["verify", "map wrap.xsl"])

        await assertDisposition(await h.engine.process(original()), .duplicate)
        let steps = try h.journal.trail(of: uuid).filter { $0.kind == .step }.map(\.detail)
        XCTAssertEqual(steps, ["verify", "map wrap.xsl", "verify"])
        XCTAssertEqual(h.sink.delivered(to: "a").count, 1)

        await assertDeadLetter(await h.engine.process(tampered()), step: "verify", reasonContains: "bad-digest")
    }
}
