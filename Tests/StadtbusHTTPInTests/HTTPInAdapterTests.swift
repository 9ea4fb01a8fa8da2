import Foundation
import HTTPInAdapter
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusCore
import StadtbusTestSupport
import XCTest

/// The `http-in` adapter against a real RabbitMQ (this checkout's `chaos` node): every answer
/// of the contract (flows.md), and that 202 comes only after the message is in the intake queue.
final class HTTPInAdapterTests: XCTestCase {
    private var harness: AdapterHarness!
    private var adapter: HTTPInAdapter!
    private var endpoints: [Endpoint] = []
    private var port = 0
    private var tag = ""
    private var tokenFile: URL!
    private let token = "portal-\(UUID().uuidString)"

    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
        harness = try await AdapterHarness()
        adapter = HTTPInAdapter()
        tag = UUID().uuidString.prefix(8).lowercased()
        tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("http-in-\(tag).token")
        try "# the portal's token\nportal-client: \(token)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let listen = ConfigValue.string("127.0.0.1:0")
        endpoints = [
            Endpoint(
                name: "portal.eingang", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/eingang/portal"), "token-file": .path(tokenFile.path),
                    "queue": .string("test.\(tag).portal"),
                ]),
            Endpoint(
                name: "klein", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/klein"), "auth": .string("none"),
                    "max-body-size": .string("1KiB"),
                    "queue": .string("test.\(tag).klein"),
                ]),
            Endpoint(
                name: "behoerde", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/eingang/mtls"), "auth": .string("mtls-proxy"),
                    "trusted-proxies": .list([.string("127.0.0.1")]),
                    "allowed-subjects": .list([.string("CN=portal.itzehoe.de,*")]),
                    "queue": .string("test.\(tag).mtls"),
                ]),
            Endpoint(
                name: "fremd", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/eingang/fremd"), "auth": .string("mtls-proxy"),
                    "trusted-proxies": .list([.string("10.9.9.9")]), "allowed-subjects": .list([.string("*")]),
                    "queue": .string("test.\(tag).fremd"),
                ]),
        ]
        try await adapter.prepare(endpoints, context: harness.context)
        for endpoint in endpoints {
            let failure = try await adapter.listeners.open(endpoint, context: harness.context)
            XCTAssertNil(failure, "listener did not bind")
        }
        // The listeners bind port 0; the kernel's choice is read back, so no other process can take it first.
        port = try XCTUnwrap(adapter.listeners.boundAddress(of: endpoints[0])?.port, "listener reports no port")
    }

    override func tearDown() async throws {
        try? ChaosBroker.startApp()
        for endpoint in endpoints { await adapter?.listeners.close(endpoint) }
        await harness?.close()
        if let tokenFile { try? FileManager.default.removeItem(at: tokenFile) }
    }

    private func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    private func post(
        _ path: String, _ body: [UInt8], contentType: String = "application/xml", headers: [String: String] = [:],
        chunked: Bool = false
    ) async throws -> HTTPAnswer {
        try await Curl.request(
            url(path), body: body, headers: headers.merging(["Content-Type": contentType]) { $1 }, chunked: chunked)
    }

    private var bearer: [String: String] { ["Authorization": "Bearer \(token)"] }

    // MARK: Accepted

    func testAcceptedAfterConfirmWithBodyAndHeadersInIntakeQueue() async throws {
        let body = Paths.application
        XCTAssertFalse(body.isEmpty, "shared XBeteiligung example missing")
        let answer = try await post(
            "/eingang/portal", body, contentType: "application/xml; charset=utf-8",
            headers: bearer.merging(["X-Message-ID": "antrag 4711/<b>", "X-Correlation-ID": "vorgang-42"]) { $1 })
        XCTAssertEqual(answer.status, 202, answer.body)
        XCTAssertEqual(answer.json("status"), "accepted")
        XCTAssertEqual(answer.json("id"), "antrag4711b")
        XCTAssertEqual(answer.headers["content-type"], "application/json")

        // 202 means the confirm already happened: the message is there now.
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 5)
        let message = try XCTUnwrap(delivery, "202 was answered but the intake queue is empty")
        XCTAssertEqual(message.body, body)
        XCTAssertEqual(message.properties.messageID, "antrag4711b")
        XCTAssertEqual(message.properties.contentType, "application/xml; charset=utf-8")
        XCTAssertTrue(message.properties.persistent)
        XCTAssertEqual(message.headers["x-stadtbus-http-endpoint"], .string("portal.eingang"))
        XCTAssertEqual(message.headers["x-stadtbus-client"], .string("portal-client"))
        XCTAssertEqual(message.headers["x-correlation-id"], .string("vorgang-42"))
        guard case .string(let received)? = message.headers["x-stadtbus-received-at"] else {
            return XCTFail("no x-stadtbus-received-at header")
        }
        let stamp = try XCTUnwrap(ISO8601DateFormatter().date(from: received), "not ISO 8601: \(received)")
        XCTAssertLessThan(abs(stamp.timeIntervalSinceNow), 60)
    }

    func testWithoutMessageIDAFreshUUIDIsUsed() async throws {
        let answer = try await post("/eingang/portal", Paths.application, headers: bearer)
        XCTAssertEqual(answer.status, 202, answer.body)
        let id = try XCTUnwrap(answer.json("id"))
        XCTAssertNotNil(UUID(uuidString: id), id)
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 5)
        XCTAssertEqual(delivery?.properties.messageID, id)
    }

    // MARK: 401 / 403

    func testMissingOrWrongTokenIs401WithChallenge() async throws {
        let missing = try await post("/eingang/portal", Paths.application)
        XCTAssertEqual(missing.status, 401, missing.body)
        XCTAssertEqual(missing.json("status"), "rejected")
        XCTAssertTrue(missing.headers["www-authenticate"]?.hasPrefix("Bearer") ?? false, "\(missing.headers)")

        let wrong = try await post("/eingang/portal", Paths.application, headers: ["Authorization": "Bearer \(token)x"])
        XCTAssertEqual(wrong.status, 401, wrong.body)
        XCTAssertTrue(wrong.headers["www-authenticate"]?.hasPrefix("Bearer") ?? false)

        let basic = try await post(
            "/eingang/portal", Paths.application, headers: ["Authorization": "Basic dXNlcjpwdw=="])
        XCTAssertEqual(basic.status, 401, basic.body)
        let leaked = try await harness.take(from: "test.\(tag).portal", seconds: 1)
        XCTAssertNil(leaked, "a rejected request reached the intake queue")
    }

    func testTokensAreReReadOnReload() async throws {
        let newToken = "rotated-\(UUID().uuidString)"
        try "\(newToken)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        try await adapter.prepare(endpoints, context: harness.context)  // what the runtime does after a reload
        let old = try await post("/eingang/portal", Paths.application, headers: bearer)
        XCTAssertEqual(old.status, 401, old.body)
        let new = try await post("/eingang/portal", Paths.application, headers: ["Authorization": "Bearer \(newToken)"])
        XCTAssertEqual(new.status, 202, new.body)
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 5)
        // A bare token is named after its file.
        XCTAssertEqual(
            delivery?.headers["x-stadtbus-client"], .string(tokenFile.deletingPathExtension().lastPathComponent))
    }

    func testMTLSProxyChecksProxyVerificationAndSubject() async throws {
        let subject = "CN=portal.itzehoe.de,O=Stadt Itzehoe,C=DE"
        let ok = try await post(
            "/eingang/mtls", Paths.application,
            headers: ["X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": subject])
        XCTAssertEqual(ok.status, 202, ok.body)
        let delivery = try await harness.take(from: "test.\(tag).mtls", seconds: 5)
        XCTAssertEqual(delivery?.headers["x-stadtbus-client"], .string(subject))

        let unverified = try await post(
            "/eingang/mtls", Paths.application,
            headers: ["X-SSL-Client-Verify": "FAILED:certificate has expired", "X-SSL-Client-S-DN": subject])
        XCTAssertEqual(unverified.status, 403, unverified.body)
        XCTAssertTrue(unverified.json("reason")?.contains("not verified") ?? false, unverified.body)

        let notAllowed = try await post(
            "/eingang/mtls", Paths.application,
            headers: ["X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "CN=mallory.example,O=Evil"])
        XCTAssertEqual(notAllowed.status, 403, notAllowed.body)
        XCTAssertTrue(notAllowed.json("reason")?.contains("not allowed") ?? false, notAllowed.body)

        let untrusted = try await post(
            "/eingang/fremd", Paths.application,
            headers: ["X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": subject])
        XCTAssertEqual(untrusted.status, 403, untrusted.body)
        XCTAssertTrue(untrusted.json("reason")?.contains("trusted proxy") ?? false, untrusted.body)
    }

    // MARK: 413 / 415 / 400 / 405

    func testTooLargeIs413ByContentLengthAndWhileStreaming() async throws {
        let big = Array("<a>\(String(repeating: "x", count: 4096))</a>".utf8)
        let declared = try await post("/klein", big)
        XCTAssertEqual(declared.status, 413, declared.body)
        XCTAssertTrue(declared.json("reason")?.contains("1024") ?? false, declared.body)

        let chunked = try await post("/klein", big, chunked: true)
        XCTAssertEqual(chunked.status, 413, chunked.body)

        let small = try await post("/klein", Array("<a>klein</a>".utf8), chunked: true)
        XCTAssertEqual(small.status, 202, small.body)
    }

    func testNotXMLIs415() async throws {
        for type in ["application/json", "text/plain", ""] {
            let answer = try await post("/eingang/portal", Array(#"{"a":1}"#.utf8), contentType: type, headers: bearer)
            XCTAssertEqual(answer.status, 415, "\(type): \(answer.body)")
        }
        let plus = try await post("/klein", Array("<a/>".utf8), contentType: "application/xbeteiligung+xml")
        XCTAssertEqual(plus.status, 202, plus.body)
        let text = try await post("/klein", Array("<a/>".utf8), contentType: "text/xml; charset=utf-8")
        XCTAssertEqual(text.status, 202, text.body)
    }

    func testBadXMLIs400WithLineAndColumn() async throws {
        let malformed = try await post("/eingang/portal", Array("<a>\n  <b></a>".utf8), headers: bearer)
        XCTAssertEqual(malformed.status, 400, malformed.body)
        let reason = malformed.json("reason") ?? ""
        XCTAssertTrue(reason.contains("line 2"), reason)
        XCTAssertTrue(reason.contains("column"), reason)

        let xxe = """
            <?xml version="1.0"?>
            <!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <a>&x;</a>
            """
        let external = try await post("/eingang/portal", Array(xxe.utf8), headers: bearer)
        XCTAssertEqual(external.status, 400, external.body)
        XCTAssertTrue(external.json("reason")?.contains("DOCTYPE") ?? false, external.body)
        XCTAssertFalse(external.body.contains("root:"), "file contents leaked")

        var laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        for level in 1...9 {
            let previous = level == 1 ? "lol" : "lol\(level - 1)"
            laughs += "<!ENTITY lol\(level) \"\(String(repeating: "&\(previous);", count: 10))\">\n"
        }
        laughs += "]>\n<lolz>&lol9;</lolz>"
        let bomb = try await post("/eingang/portal", Array(laughs.utf8), headers: bearer)
        XCTAssertEqual(bomb.status, 400, bomb.body)
        XCTAssertTrue(bomb.json("reason")?.contains("DOCTYPE") ?? false, bomb.body)

        let leaked = try await harness.take(from: "test.\(tag).portal", seconds: 1)
        XCTAssertNil(leaked, "a rejected document reached the intake queue")
    }

    func testGetIs405() async throws {
        let answer = try await Curl.request(url("/eingang/portal"), method: "GET", headers: bearer)
        XCTAssertEqual(answer.status, 405, answer.body)
        XCTAssertEqual(answer.headers["allow"], "POST")
        let unknown = try await post("/nirgendwo", Paths.application, headers: bearer)
        XCTAssertEqual(unknown.status, 404, unknown.body)
    }

    // MARK: 503

    func testBrokerDownIs503WithRetryAfterThen202WhenBack() async throws {
        try ChaosBroker.stopApp()
        do {
            try await harness.waitConnected(false)
            let down = try await post("/eingang/portal", Paths.application, headers: bearer)
            XCTAssertEqual(down.status, 503, down.body)
            XCTAssertEqual(down.headers["retry-after"], "5")
            XCTAssertTrue(down.json("reason")?.contains("broker") ?? false, down.body)
        } catch {
            try? ChaosBroker.startApp()
            throw error
        }
        try ChaosBroker.startApp()
        try await harness.waitConnected(true)
        var answer = try await post("/eingang/portal", Paths.application, headers: bearer)
        for _ in 0..<20 where answer.status == 503 {
            // The connection is up; the publisher's channel may need a moment after the restart.
            try await Task.sleep(for: .milliseconds(500))
            answer = try await post("/eingang/portal", Paths.application, headers: bearer)
        }
        XCTAssertEqual(answer.status, 202, answer.body)
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 10)
        XCTAssertEqual(delivery?.properties.messageID, answer.json("id"))
    }

    // MARK: Readiness

    func testListenerIsReadyAndABindFailureFailsReadinessWithReason() async throws {
        XCTAssertEqual(harness.readiness.report.conditions["listener:127.0.0.1:0"], true)
        let other = HTTPInAdapter()
        let clash = Endpoint(
            name: "clash", type: "http-in",
            settings: ["listen": .string("127.0.0.1:\(port)"), "path": .string("/x"), "auth": .string("none")])
        let readiness = harness.readiness
        let failure = try await other.listeners.open(clash, context: harness.context)
        XCTAssertNotNil(failure)
        XCTAssertFalse(readiness.report.ready)
        XCTAssertTrue(
            readiness.report.reasons.contains { $0.hasPrefix("listener:127.0.0.1:\(port): cannot listen") },
            "\(readiness.report.reasons)")
        await other.listeners.close(clash)
    }
}
