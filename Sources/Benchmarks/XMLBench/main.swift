// stadtbus-xml-bench — throughput of the XML core on a real ~10 KB XÖV message.
//
//   swift run -c release stadtbus-xml-bench [--seconds N] [--shared DIR]
//
// Prints one line per figure (`name value unit`); asserts nothing. Single thread unless
// --threads is given (schemas and stylesheets are shared across threads as in the service).
import Foundation
import StadtbusXML
import Synchronization

struct Options {
    var seconds = 3.0
    var threads = 1
    var shared = ProcessInfo.processInfo.environment["STADTBUS_SHARED"] ?? "../shared"

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": seconds = iterator.next().flatMap(Double.init) ?? seconds
            case "--threads": threads = iterator.next().flatMap(Int.init) ?? threads
            case "--shared": shared = iterator.next() ?? shared
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

/// Runs `body` on `threads` threads for `seconds`; returns operations per second.
func measure(_ name: String, seconds: Double, threads: Int, _ body: @escaping @Sendable () throws -> Void) -> Double {
    measurePerThread(name, seconds: seconds, threads: threads) { body }
}

/// Runs the body that `makeBody` returns, one made on each of `threads` threads (for state a
/// thread must not share, such as a document), for `seconds`; returns operations per second.
func measurePerThread(
    _ name: String, seconds: Double, threads: Int, _ makeBody: @Sendable () throws -> () throws -> Void
) -> Double {
    let counts = Mutex([Int](repeating: 0, count: threads))
    let deadline = Date().addingTimeInterval(seconds)
    let start = Date()
    DispatchQueue.concurrentPerform(iterations: threads) { index in
        var count = 0
        do {
            let body = try makeBody()
            while Date() < deadline {
                try body()
                count += 1
            }
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(1)
        }
        counts.withLock { $0[index] = count }
    }
    let elapsed = Date().timeIntervalSince(start)
    let total = counts.withLock { $0.reduce(0, +) }
    return Double(total) / elapsed
}

let options = Options(CommandLine.arguments)
let messagePath = "\(options.shared)/xoev/xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml"
let schemaPath = "\(options.shared)/xoev/xdomea-3.0.0/schemas/xdomea.xsd"
guard let message = FileManager.default.contents(atPath: messagePath).map(Array.init) else {
    FileHandle.standardError.write(Data("cannot read \(messagePath) (use --shared DIR)\n".utf8))
    exit(2)
}

// A realistic mapping: copies the xdomea header into a filing receipt and counts objects.
let stylesheetText = """
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:xdomea="urn:xoev-de:xdomea:schema:3.0.0">
      <xsl:param name="eingang"/>
      <xsl:template match="/">
        <eingangsbestaetigung eingang="{$eingang}">
          <prozess><xsl:value-of select="/*/xdomea:Kopf/xdomea:ProzessID"/></prozess>
          <typ><xsl:value-of select="/*/xdomea:Kopf/xdomea:Nachrichtentyp/code"/></typ>
          <absender><xsl:value-of select="/*/xdomea:Kopf/xdomea:Absender//xdomea:Behoerdenschluessel/code"/></absender>
          <objekte><xsl:value-of select="count(//xdomea:Schriftgutobjekt)"/></objekte>
          <xsl:apply-templates select="//xdomea:Schriftgutobjekt"/>
        </eingangsbestaetigung>
      </xsl:template>
      <xsl:template match="xdomea:Schriftgutobjekt">
        <objekt id="{.//xdomea:Identifikation/xdomea:ID}"/>
      </xsl:template>
    </xsl:stylesheet>
    """

do {
    let schema = try XMLSchema(path: schemaPath)
    let stylesheet = try XSLTStylesheet(xml: stylesheetText, name: "bench.xsl")
    let extractor = try HeaderExtractor()
    let document = try XMLDocument(parsing: message)
    precondition(schema.validate(document).isEmpty, "benchmark message must be valid")
    _ = try stylesheet.transform(document, parameters: ["eingang": "2026-11-25T10:00:00Z"])

    print("message_bytes \(message.count) bytes")
    print("threads \(options.threads) threads")
    let parse = measure("parse", seconds: options.seconds, threads: options.threads) {
        _ = try XMLDocument(parsing: message)
    }
    print(String(format: "parse %.0f msg/s", parse))
    let header = measure("parse_header", seconds: options.seconds, threads: options.threads) {
        _ = try extractor.header(of: try XMLDocument(parsing: message))
    }
    print(String(format: "parse_header %.0f msg/s", header))
    let validate = measure("parse_validate", seconds: options.seconds, threads: options.threads) {
        let document = try XMLDocument(parsing: message)
        guard schema.validate(document).isEmpty else { throw XMLError.serializationFailed }
    }
    print(String(format: "parse_validate %.0f msg/s", validate))
    // The stylesheet is shared, the source document is each thread's own (a document is not
    // `Sendable`: libxslt may annotate the source tree while it transforms).
    let transform = measurePerThread("xslt", seconds: options.seconds, threads: options.threads) {
        let document = try XMLDocument(parsing: message)
        return { _ = try stylesheet.transform(document, parameters: ["eingang": "2026-11-25T10:00:00Z"]) }
    }
    print(String(format: "xslt %.0f msg/s", transform))
    let chain = measure("parse_validate_xslt_serialize", seconds: options.seconds, threads: options.threads) {
        let document = try XMLDocument(parsing: message)
        guard schema.validate(document).isEmpty else { throw XMLError.serializationFailed }
        _ = try stylesheet.transform(document, parameters: ["eingang": "2026-11-25T10:00:00Z"]).serialized()
    }
    print(String(format: "parse_validate_xslt_serialize %.0f msg/s", chain))
} catch {
    FileHandle.standardError.write(Data("benchmark set-up failed: \(error)\n".utf8))
    exit(1)
}
