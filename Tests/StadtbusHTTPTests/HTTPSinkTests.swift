import Foundation
import Hummingbird
import StadtbusAdapterKit
import StadtbusCore
import StadtbusTestSupport
import XCTest

@testable import HTTPOutAdapter

/// `http-out` against a real HTTP server on loopback: what is durable, what is retried, what
/// is refused for good.
final class HTTPSinkTests: XCTestCase {
    /// A receiver that answers per path, and records what it got.
    final class Receiver: @unchecked Sendable {
        let lock = NSLock()
        var bodies: [String] = []
        var headers: [[String: String]] = []
    }

    private func withServer(_ body: (Int, Receiver) async throws -> Void) async throws {
        let receiver = Receiver()
        let router = Router()
        router.post("ok") { request, _ -> HTTPResponse.Status in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            receiver.lock.withLock {
                receiver.bodies.append(String(buffer: buffer))
                receiver.headers.append(headers)
            }
            return .accepted
        }
        router.post("up") { _, _ -> HTTPResponse.Status in .ok }
        router.post("down") { _, _ -> HTTPResponse.Status in .serviceUnavailable }
        router.post("invalid") { _, _ -> Response in
            Response(
                status: .badRequest,
                body: .init(byteBuffer: ByteBuffer(string: "Schemafehler in Zeile 3: Element 'Betreff' fehlt")))
        }
        router.post("slow") { _, _ -> HTTPResponse.Status in
            try await Task.sleep(for: .seconds(3))
            return .ok
        }
        // Port 0: the server reports the kernel's choice once it listens, so no other process can take it first.
        let (ports, bound) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                bound.yield(channel.localAddress?.port ?? 0)
                bound.finish()
            })
        let server = Task {
            defer { bound.finish() }  // a server that never ran must not leave the wait below hanging
            try await app.runService()
        }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            throw EndToEndFailure("the receiver did not start: \(String(describing: await server.result))")
        }
        try await body(port, receiver)
    }

    private func message(_ text: String = "<antrag/>") -> OutgoingMessage {
        OutgoingMessage(
            body: Array(text.utf8), headers: [:], properties: MessageProperties(correlationID: "vorgang-7"),
            messageID: "60f6667b-fa45-4bd7-b717-f4d6c65e5edb", route: "kreis-weiterleitung")
    }

    private func endpoint(_ port: Int, _ path: String, timeout: Duration = .seconds(5)) -> Endpoint {
        Endpoint(
            name: "kreis", type: "http-out",
            settings: [
                "url": .string("http://127.0.0.1:\(port)/\(path)"), "timeout": .duration(timeout),
                "headers": .map(["X-Behoerde": .string("ags:01061046")]),
            ])
    }

    func testTwoHundredsAreDeliveredWithMetadataHeaders() async throws {
        try await withServer { port, receiver in
            try await HTTPSink().deliver(message("<antrag>Ä</antrag>"), to: endpoint(port, "ok"))
            receiver.lock.withLock {
                XCTAssertEqual(receiver.bodies, ["<antrag>Ä</antrag>"])
                XCTAssertEqual(receiver.headers.first?["x-stadtbus-message-id"], "60f6667b-fa45-4bd7-b717-f4d6c65e5edb")
                XCTAssertEqual(receiver.headers.first?["x-stadtbus-route"], "kreis-weiterleitung")
                XCTAssertEqual(receiver.headers.first?["x-correlation-id"], "vorgang-7")
                XCTAssertEqual(receiver.headers.first?["x-behoerde"], "ags:01061046")
                XCTAssertEqual(receiver.headers.first?["content-type"], "application/xml")
            }
        }
    }

    func testServerErrorsAndTimeoutsAreTransient() async throws {
        try await withServer { port, _ in
            await assertFailure(HTTPSink(), endpoint(port, "down"), kind: .transient, code: "http-503")
            await assertFailure(
                HTTPSink(), endpoint(port, "slow", timeout: .milliseconds(500)), kind: .transient, code: "timeout")
        }
    }

    func testClientErrorsArePermanentAndCarryTheBodyExcerpt() async throws {
        try await withServer { port, _ in
            let error = await assertFailure(HTTPSink(), endpoint(port, "invalid"), kind: .permanent, code: "http-400")
            XCTAssertTrue(error?.message.contains("Schemafehler in Zeile 3") ?? false, "\(String(describing: error))")
        }
    }

    func testRefusedConnectionIsTransient() async throws {
        // A loopback port nothing listens on.
        await assertFailure(HTTPSink(), endpoint(1, "ok"), kind: .transient, code: "connect")
    }

    /// Issue 12, item 4: a publisher controls the AMQP content type, correlation id, message id and
    /// message headers; a line break in any of them must not add header lines (here `Authorization`).
    func testHeaderInjectionIsRefusedAndNeverReachesTheReceiver() async throws {
        try await withServer { port, receiver in
            var forwarding = endpoint(port, "ok")
            forwarding.settings["forward-headers"] = .list([.string("x-stadtbus-case")])
            let injection = "\r\nAuthorization: Bearer stolen"
            var hostile: [(String, OutgoingMessage)] = []
            var contentType = message()
            contentType.properties.contentType = "application/xml\(injection)"
            hostile.append(("content type", contentType))
            var bareLF = message()
            bareLF.properties.contentType = "application/xml\nAuthorization: Bearer stolen"
            hostile.append(("content type with a bare LF", bareLF))
            var messageID = message()
            messageID.messageID = "60f6667b\(injection)"
            hostile.append(("message id", messageID))
            var correlation = message()
            correlation.properties.correlationID = "vorgang-7\(injection)"
            hostile.append(("correlation id", correlation))
            var forwarded = message()
            forwarded.headers["x-stadtbus-case"] = "fall-1\(injection)"
            hostile.append(("forwarded header", forwarded))
            var control = message()
            control.properties.correlationID = "vorgang\u{01}7"
            hostile.append(("control character", control))
            for (what, message) in hostile {
                do {
                    try await HTTPSink().deliver(message, to: forwarding)
                    XCTFail("\(what): a header with a line break was sent")
                } catch let error as DeliveryError {
                    XCTAssertEqual(error.kind, .permanent, "\(what): \(error)")
                    XCTAssertEqual(error.code, "invalid-header", "\(what): \(error)")
                }
            }
            receiver.lock.withLock {
                XCTAssertTrue(receiver.headers.isEmpty, "refused messages reached the receiver: \(receiver.headers)")
                XCTAssertFalse(receiver.headers.contains { $0["authorization"] != nil })
            }

            // A well-formed media type with parameters, and a forwarded header, still go through.
            var valid = message()
            valid.properties.contentType = #"application/xdomea+xml; charset="utf-8"; version=3.0.0"#
            valid.headers["x-stadtbus-case"] = "fall-1"
            try await HTTPSink().deliver(valid, to: forwarding)
            receiver.lock.withLock {
                XCTAssertEqual(receiver.headers.count, 1)
                XCTAssertEqual(
                    receiver.headers.first?["content-type"], #"application/xdomea+xml; charset="utf-8"; version=3.0.0"#)
                XCTAssertEqual(receiver.headers.first?["x-stadtbus-case"], "fall-1")
                XCTAssertNil(receiver.headers.first?["authorization"])
            }
        }
    }

    func testContentTypeMustBeAMediaType() throws {
        XCTAssertNil(HeaderField.mediaTypeProblem("application/xml"))
        XCTAssertNil(HeaderField.mediaTypeProblem("text/xml;charset=UTF-8"))
        XCTAssertNil(HeaderField.mediaTypeProblem(#"application/xml; a="x;\"y\""; b=c"#))
        for bad in [
            "xml", "application/", "/xml", "application/xml, text/plain", "application/xml; charset",
            "application/xml; charset=\"utf-8", "applicätion/xml", "application/xml\r\nX: y",
            "application/xml; a=" + String(repeating: "x", count: 300),
        ] {
            XCTAssertNotNil(HeaderField.mediaTypeProblem(bad), bad)
        }
    }

    @discardableResult
    private func assertFailure(
        _ sink: HTTPSink, _ endpoint: Endpoint, kind: FailureKind, code: String, file: StaticString = #filePath,
        line: UInt = #line
    ) async -> DeliveryError? {
        do {
            try await sink.deliver(message(), to: endpoint)
            XCTFail("expected \(code)", file: file, line: line)
            return nil
        } catch let error as DeliveryError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
            return nil
        }
    }
}
