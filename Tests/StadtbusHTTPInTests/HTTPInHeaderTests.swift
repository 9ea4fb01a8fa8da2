import Foundation
import StadtbusAMQP
import StadtbusAdapterKit
import StadtbusCore
import StadtbusTestSupport
import XCTest

@testable import HTTPInAdapter

/// Issue 12, items 1 and 12: request headers that used to reach the AMQP publish unchecked (an
/// oversized `Content-Type` or `X-Correlation-ID` stopped the whole instance), `*` in
/// `allowed-subjects` spanning DN components, and repeated authentication headers. Every hostile
/// request gets a 4xx, and a valid one afterwards still gets 202 with its message in the queue.
final class HTTPInHeaderTests: XCTestCase {
    private var harness: AdapterHarness!
    private var adapter: HTTPInAdapter!
    private var endpoints: [Endpoint] = []
    private var port = 0
    private var tag = ""
    private let token = "portal-\(UUID().uuidString)"
    private var tokenFile: URL!

    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
        harness = try await AdapterHarness()
        adapter = HTTPInAdapter()
        tag = UUID().uuidString.prefix(8).lowercased()
        tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("http-in-headers-\(tag).token")
        try "\(token)\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        let listen = ConfigValue.string("127.0.0.1:0")
        endpoints = [
            Endpoint(
                name: "portal", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/portal"), "token-file": .path(tokenFile.path),
                    "queue": .string("test.\(tag).portal"),
                ]),
            Endpoint(
                name: "nachbar", type: "http-in",
                settings: [
                    "listen": listen, "path": .string("/nachbar"), "auth": .string("mtls-proxy"),
                    "trusted-proxies": .list([.string("127.0.0.1")]),
                    "allowed-subjects": .list([.string("CN=*.breitenburg.de,O=Gemeinde Breitenburg,*")]),
                    "queue": .string("test.\(tag).nachbar"),
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
        for endpoint in endpoints { await adapter?.listeners.close(endpoint) }
        await harness?.close()
        if let tokenFile { try? FileManager.default.removeItem(at: tokenFile) }
    }

    private var bearer: [String: String] { ["Authorization": "Bearer \(token)"] }
    private let document = Array("<antrag>gültig</antrag>".utf8)

    private func post(_ headers: [String: String], path: String = "/portal") async throws -> HTTPAnswer {
        try await Curl.request(
            "http://127.0.0.1:\(port)\(path)", body: document,
            headers: ["Content-Type": "application/xml"].merging(headers) { $1 })
    }

    private func raw(_ headers: [(String, String)], path: String = "/portal") async throws -> Int? {
        let port = port
        let request = rawPost(path: path, headers: headers, body: document)
        return try await onThread {
            let connection = try RawConnection(port: port)
            try connection.send(request)
            return connection.readResponse()?.status
        }
    }

    /// After the hostile requests: the listener still serves and the broker still takes messages.
    private func assertStillAccepting(file: StaticString = #filePath, line: UInt = #line) async throws {
        let answer = try await post(bearer.merging(["X-Correlation-ID": "vorgang-42"]) { $1 })
        XCTAssertEqual(answer.status, 202, answer.body, file: file, line: line)
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 10)
        XCTAssertEqual(delivery?.properties.messageID, answer.json("id"), file: file, line: line)
        XCTAssertEqual(delivery?.properties.correlationID, "vorgang-42", file: file, line: line)
        let leftover = try await harness.take(from: "test.\(tag).portal", seconds: 1)
        XCTAssertNil(leftover, "a refused request reached the intake queue", file: file, line: line)
    }

    // MARK: Item 1

    func testOversizedOrMalformedContentTypeIs400AndTheListenerCarriesOn() async throws {
        let long = "application/xml; note=" + String(repeating: "a", count: 300)
        let oversized = try await post(bearer.merging(["Content-Type": long]) { $1 })
        XCTAssertEqual(oversized.status, 400, oversized.body)
        XCTAssertTrue(oversized.json("reason")?.contains("255") ?? false, oversized.body)

        for malformed in [
            "application/xml; charset", "application/xml;;x=\"unterminated", "xml", "application/xml, text/xml",
        ] {
            let answer = try await post(bearer.merging(["Content-Type": malformed]) { $1 })
            XCTAssertEqual(answer.status, 400, "\(malformed): \(answer.body)")
        }
        let repeated = try await raw(
            [("Authorization", "Bearer \(token)"), ("Content-Type", "application/xml"), ("Content-Type", "text/xml")])
        XCTAssertEqual(repeated, 400)
        let control = try await raw([
            ("Authorization", "Bearer \(token)"), ("Content-Type", "application/xml;a=\u{01}"),
        ])
        XCTAssertTrue((400..<500).contains(control ?? 0), "\(String(describing: control))")
        let notXML = try await post(bearer.merging(["Content-Type": "application/json"]) { $1 })
        XCTAssertEqual(notXML.status, 415, notXML.body)

        try await assertStillAccepting()
    }

    func testCorrelationIDOver255BytesOrWithControlCharactersIs400() async throws {
        // 200 characters, 400 bytes: the old cut at 200 characters let this through to AMQP.
        let umlauts = String(repeating: "ä", count: 200)
        let long = try await post(bearer.merging(["X-Correlation-ID": umlauts]) { $1 })
        XCTAssertEqual(long.status, 400, long.body)
        XCTAssertTrue(long.json("reason")?.contains("400 bytes") ?? false, long.body)

        let control = try await raw([
            ("Authorization", "Bearer \(token)"), ("Content-Type", "application/xml"), ("X-Correlation-ID", "a\u{01}b"),
        ])
        XCTAssertTrue((400..<500).contains(control ?? 0), "\(String(describing: control))")
        let repeated = try await raw([
            ("Authorization", "Bearer \(token)"), ("Content-Type", "application/xml"), ("X-Correlation-ID", "a"),
            ("X-Correlation-ID", "b"),
        ])
        XCTAssertEqual(repeated, 400)

        // 255 bytes exactly is carried.
        let fits = String(repeating: "ä", count: 127) + "x"
        let answer = try await post(bearer.merging(["X-Correlation-ID": fits]) { $1 })
        XCTAssertEqual(answer.status, 202, answer.body)
        let delivery = try await harness.take(from: "test.\(tag).portal", seconds: 10)
        XCTAssertEqual(delivery?.properties.correlationID, fits)

        try await assertStillAccepting()
    }

    // MARK: Item 12

    func testRepeatedAuthenticationHeadersAre400() async throws {
        let subject = "CN=wasser.breitenburg.de,O=Gemeinde Breitenburg,C=DE"
        let verifyTwice = try await raw(
            [
                ("Content-Type", "application/xml"), ("X-SSL-Client-Verify", "SUCCESS"),
                ("X-SSL-Client-Verify", "FAILED:certificate revoked"), ("X-SSL-Client-S-DN", subject),
            ], path: "/nachbar")
        XCTAssertEqual(verifyTwice, 400)
        let subjectTwice = try await raw(
            [
                ("Content-Type", "application/xml"), ("X-SSL-Client-Verify", "SUCCESS"),
                ("X-SSL-Client-S-DN", subject), ("X-SSL-Client-S-DN", "CN=mallory"),
            ], path: "/nachbar")
        XCTAssertEqual(subjectTwice, 400)
        let authorizationTwice = try await raw([
            ("Content-Type", "application/xml"), ("Authorization", "Bearer \(token)"), ("Authorization", "Bearer x"),
        ])
        XCTAssertEqual(authorizationTwice, 400)

        let once = try await raw(
            [("Content-Type", "application/xml"), ("X-SSL-Client-Verify", "SUCCESS"), ("X-SSL-Client-S-DN", subject)],
            path: "/nachbar")
        XCTAssertEqual(once, 202)
        let delivery = try await harness.take(from: "test.\(tag).nachbar", seconds: 10)
        XCTAssertEqual(delivery?.headers["x-stadtbus-client"], .string(subject))
        try await assertStillAccepting()
    }

    func testWildcardInAllowedSubjectsDoesNotSpanDNComponents() async throws {
        // `*` in `CN=*.breitenburg.de` used to match "evil.example,OU=x".
        let spanning = "CN=evil.example,OU=x.breitenburg.de,O=Gemeinde Breitenburg,C=DE"
        let answer = try await post(
            ["X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": spanning], path: "/nachbar")
        XCTAssertEqual(answer.status, 403, answer.body)
        XCTAssertTrue(answer.json("reason")?.contains("not allowed") ?? false, answer.body)

        let allowed = try await post(
            [
                "X-SSL-Client-Verify": "SUCCESS",
                "X-SSL-Client-S-DN": "CN=wasser.breitenburg.de,O=Gemeinde Breitenburg,C=DE",
            ],
            path: "/nachbar")
        XCTAssertEqual(allowed.status, 202, allowed.body)
        _ = try await harness.take(from: "test.\(tag).nachbar", seconds: 10)
    }

    func testSubjectPatternsMatchPerRDN() {
        let pattern = SubjectPattern("CN=*.breitenburg.de,O=Gemeinde Breitenburg,*")
        XCTAssertTrue(pattern.matches("CN=wasser.breitenburg.de,O=Gemeinde Breitenburg,C=DE"))
        XCTAssertTrue(pattern.matches("CN=a.breitenburg.de,O=Gemeinde Breitenburg,L=Breitenburg,C=DE"))
        XCTAssertFalse(pattern.matches("CN=evil.example,OU=x.breitenburg.de,O=Gemeinde Breitenburg,C=DE"))
        XCTAssertFalse(pattern.matches("CN=a.breitenburg.de,O=Gemeinde Breitenburg"), "a final * stands for 1+ RDNs")
        // An escaped comma belongs to the value: `*` may match it, within the one RDN.
        XCTAssertTrue(SubjectPattern("CN=*,O=Firma*").matches("CN=Müller\\, Anna,O=Firma GmbH"))
        XCTAssertFalse(SubjectPattern("CN=*").matches("CN=a,O=b"))
        XCTAssertTrue(SubjectPattern("*").matches("CN=a,O=b"))
        XCTAssertTrue(SubjectPattern("CN=eakte.itzehoe.de,*").matches("CN=eakte.itzehoe.de,O=Stadt Itzehoe,C=DE"))
        XCTAssertFalse(SubjectPattern("CN=eakte.itzehoe.de,*").matches("CN=eakte.itzehoe.de.evil,O=x"))
        XCTAssertTrue(SubjectPattern("CN=?akte.itzehoe.de,O=[A-Z]*,C=DE").matches("CN=eakte.itzehoe.de,O=Stadt,C=DE"))
        XCTAssertEqual(SubjectPattern.rdns("CN=a\\,b,O=c"), ["CN=a\\,b", "O=c"])
    }
}
