import Foundation
import StadtbusXML
import XCTest

/// Replays the XML fuzz corpus (`Fuzz/corpus/xml/`) through what `stadtbus-fuzz-xml` exercises:
/// the guarded parser and header extraction with the built-in profiles. Every input must end
/// in a document or an error — a crash here is a fuzz finding that came back.
final class FuzzCorpusTests: XCTestCase {
    private static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/xml")

    private func inputs(prefix: String) throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { $0.hasPrefix(prefix) }.sorted()
        return try names.map { ($0, Array(try Data(contentsOf: Self.corpus.appendingPathComponent($0)))) }
    }

    func testRealSeedsYieldTheirHeaders() throws {
        let extractor = try HeaderExtractor()
        let seeds = try inputs(prefix: "real-")
        XCTAssertGreaterThanOrEqual(seeds.count, 5)
        for seed in seeds {
            let document = try XMLDocument(parsing: seed.bytes)
            XCTAssertNoThrow(try extractor.header(of: document), seed.name)
        }
    }

    func testEveryOtherInputEndsInADocumentOrAnError() throws {
        let extractor = try HeaderExtractor()
        let others = try inputs(prefix: "").filter { !$0.name.hasPrefix("real-") }
        XCTAssertGreaterThanOrEqual(others.count, 10)
        for input in others {
            guard let document = try? XMLDocument(parsing: input.bytes) else { continue }
            _ = try? extractor.header(of: document).creationDate
        }
    }

    func testHostileSeedsAreRefusedByTheParser() throws {
        // The others (a Latin-1 or UTF-16 document, processing instructions, XInclude) are
        // well-formed and parse; XInclude and catalog PIs are never acted on.
        let refused = [
            "hostile-deep-g2g.xml", "hostile-deep-nesting.xml", "hostile-doctype-xxe.xml",
            "hostile-entity-bomb.xml", "hostile-external-dtd.xml", "hostile-invalid-utf8.xml",
            "hostile-nul-bytes.xml", "hostile-truncated-0401.xml",
        ]
        let hostile = try inputs(prefix: "hostile-")
        XCTAssertEqual(Set(refused).subtracting(hostile.map(\.name)), [], "seeds missing from the corpus")
        for input in hostile where refused.contains(input.name) {
            XCTAssertThrowsError(try XMLDocument(parsing: input.bytes), input.name)
        }
    }
}
