import Foundation
import Hummingbird
import StadtbusCore
import HTTPOutAdapter
import StadtbusTestSupport
import XCTest

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
            Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "Schemafehler in Zeile 3: Element 'Betreff' fehlt")))
        }
        router.post("slow") { _, _ -> HTTPResponse.Status in
            try await Task.sleep(for: .seconds(3))
            return .ok
        }
        let port = freeLoopbackPort()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        // Wait until the server answers (a loaded CI machine may need more than a moment).
        let probe = Endpoint(name: "probe", type: "http-out", settings: ["url": .string("http://127.0.0.1:\(port)/up")])
        for _ in 0..<100 {
            do {
                try await HTTPSink().deliver(message(), to: probe)
                break
            } catch let error as DeliveryError where error.code == "connect" {
                try await Task.sleep(for: .milliseconds(50))
            }
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
            await assertFailure(HTTPSink(), endpoint(port, "slow", timeout: .milliseconds(500)), kind: .transient, code: "timeout")
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

    func testHeaderInjectionIsNeutralised() async throws {
        try await withServer { port, receiver in
            var hostile = message()
            hostile.messageID = "id\r\nX-Injected: yes"
            try await HTTPSink().deliver(hostile, to: endpoint(port, "ok"))
            receiver.lock.withLock {
                XCTAssertNil(receiver.headers.first?["x-injected"])
                XCTAssertEqual(receiver.headers.first?["x-stadtbus-message-id"], "idX-Injected: yes")
            }
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
