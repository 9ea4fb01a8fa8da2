import Foundation
import StadtbusAdapterKit
import StadtbusCore
import StadtbusTestSupport
import XCTest

@testable import HTTPInAdapter

/// Issue 12, item 6: idle and slow connections (unauthenticated ones included) stayed open
/// without limit. A listener now closes connections beyond `max-connections` at once, and
/// closes connections that send nothing, half a head, half a body, or stay idle too long.
///
/// Every wait for the server to close a connection has a generous upper bound; no test asserts
/// how quickly it happened.
final class HTTPInConnectionLimitTests: XCTestCase {
    private var harness: AdapterHarness!
    private var adapter: HTTPInAdapter!
    private var endpoint: Endpoint!
    private var port = 0
    private var tag = ""

    override func setUp() async throws {
        try ChaosBroker.start()
        try? ChaosBroker.startApp()
        harness = try await AdapterHarness()
        adapter = HTTPInAdapter()
        tag = UUID().uuidString.prefix(8).lowercased()
    }

    override func tearDown() async throws {
        if let endpoint { await adapter?.listeners.close(endpoint) }
        await harness?.close()
    }

    private func open(_ settings: [String: ConfigValue]) async throws {
        var all: [String: ConfigValue] = [
            "listen": .string("127.0.0.1:0"), "path": .string("/offen"), "auth": .string("none"),
            "queue": .string("test.\(tag).offen"),
        ]
        all.merge(settings) { $1 }
        endpoint = Endpoint(name: "offen", type: "http-in", settings: all)
        try await adapter.prepare([endpoint], context: harness.context)
        let failure = try await adapter.listeners.open(endpoint, context: harness.context)
        XCTAssertNil(failure, "listener did not bind")
        // Port 0: the kernel's choice is read back, so no other process can take it first.
        port = try XCTUnwrap(adapter.listeners.boundAddress(of: endpoint)?.port, "listener reports no port")
    }

    private let document = Array("<a/>".utf8)

    /// A connection that has been answered once and is kept alive.
    private func answeredConnection() async throws -> RawConnection {
        let (port, request) = (
            port,
            rawPost(path: "/offen", headers: [("Content-Type", "application/xml")], body: document, keepAlive: true)
        )
        return try await onThread {
            let connection = try RawConnection(port: port)
            try connection.send(request)
            guard let answer = connection.readResponse(), answer.status == 202 else {
                throw HarnessFailure("the first connections were not served")
            }
            return connection
        }
    }

    func testConnectionsBeyondTheLimitAreClosedAtOnceWhileTheOthersStayOpen() async throws {
        try await open(["max-connections": .int(2), "idle-timeout": .string("10m"), "header-timeout": .string("10m")])
        let first = try await answeredConnection()
        let second = try await answeredConnection()

        let port = port
        let refused = try await onThread { () -> (answered: Bool, closed: Bool) in
            let third = try RawConnection(port: port)
            // Even a complete keep-alive request is not read: the connection closes without an answer.
            try? third.send(
                rawPost(
                    path: "/offen", headers: [("Content-Type", "application/xml")], body: Array("<a/>".utf8),
                    keepAlive: true))
            let answered = third.readResponse(seconds: 30) != nil
            return (answered, third.waitForClose(seconds: 30))
        }
        XCTAssertFalse(refused.answered, "the connection beyond max-connections was served")
        XCTAssertTrue(refused.closed, "the connection beyond max-connections was not closed")

        // The two admitted connections still work.
        let request = rawPost(
            path: "/offen", headers: [("Content-Type", "application/xml")], body: document, keepAlive: true)
        for connection in [first, second] {
            let status = try await onThread { () -> Int? in
                try connection.send(request)
                return connection.readResponse()?.status
            }
            XCTAssertEqual(status, 202)
        }
        for _ in 0..<2 { _ = try await harness.take(from: "test.\(tag).offen", seconds: 10) }

        // Once one closes, a new connection is served again (the place is given back).
        first.close()
        var served = false
        for _ in 0..<60 where !served {
            served = (try? await answeredConnection()) != nil
            if !served { try await Task.sleep(for: .milliseconds(500)) }
        }
        XCTAssertTrue(served, "no new connection was served after one closed")
        second.close()
    }

    func testSilentAndHalfHeadConnectionsAreClosedAfterTheHeaderTimeout() async throws {
        try await open(["idle-timeout": .string("1s"), "header-timeout": .string("1s")])
        let port = port
        let silent = try await onThread { () -> Bool in
            let connection = try RawConnection(port: port)
            return connection.waitForClose(seconds: 30)
        }
        XCTAssertTrue(silent, "a connection that sent nothing stayed open")

        let halfHead = try await onThread { () -> Bool in
            let connection = try RawConnection(port: port)
            try connection.send("POST /offen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            return connection.waitForClose(seconds: 30)
        }
        XCTAssertTrue(halfHead, "a connection that sent half a head stayed open")
    }

    func testHalfBodyAndIdleKeptAliveConnectionsAreClosed() async throws {
        try await open(["idle-timeout": .string("1s"), "body-timeout": .string("1s")])
        let port = port
        let halfBody = try await onThread { () -> Bool in
            let connection = try RawConnection(port: port)
            try connection.send(
                "POST /offen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\nContent-Length: 100\r\n\r\n<a>"
            )
            return connection.waitForClose(seconds: 30)
        }
        XCTAssertTrue(halfBody, "a connection that sent half a body stayed open")

        let idle = try await answeredConnection()
        let closed = try await onThread { idle.waitForClose(seconds: 30) }
        XCTAssertTrue(closed, "an idle kept-alive connection stayed open")
        _ = try await harness.take(from: "test.\(tag).offen", seconds: 10)
    }

    func testSettingsAreCheckedAndTheStrictestOfAListenerApplies() throws {
        XCTAssertEqual(try HTTPInSettings(endpoint: settingsEndpoint(["path": .string("/a")])).connections, .defaults)
        let custom = try HTTPInSettings(
            endpoint: settingsEndpoint([
                "path": .string("/a"), "max-connections": .int(10), "idle-timeout": .string("5s"),
                "header-timeout": .duration(.seconds(2)), "body-timeout": .string("2m"),
            ]))
        XCTAssertEqual(
            custom.connections,
            HTTPInConnectionLimits(
                maxConnections: 10, idleTimeout: .seconds(5), headerTimeout: .seconds(2), bodyTimeout: .seconds(120)))
        XCTAssertEqual(custom.connections.stricter(.defaults).idleTimeout, .seconds(5))
        XCTAssertEqual(custom.connections.stricter(.defaults).bodyTimeout, .seconds(60))

        for (setting, value) in [
            ("max-connections", ConfigValue.int(0)), ("idle-timeout", .string("0s")),
            ("header-timeout", .string("zehn")),
            ("body-timeout", .string("2h")),
        ] {
            XCTAssertThrowsError(
                try HTTPInSettings(endpoint: settingsEndpoint(["path": .string("/a"), setting: value])), setting
            ) {
                guard case .invalidSetting(_, let named, _)? = $0 as? HTTPInError else { return XCTFail("\($0)") }
                XCTAssertEqual(named, setting)
            }
        }
        XCTAssertNil(HTTPInConnectionLimits.timeoutProblem("30s"))
        XCTAssertNotNil(HTTPInConnectionLimits.timeoutProblem("0s"))
        let schema = HTTPInAdapter().type.settings
        for name in ["max-connections", "idle-timeout", "header-timeout", "body-timeout"] {
            XCTAssertNotNil(schema.field(named: name), name)
        }
    }

    private func settingsEndpoint(_ settings: [String: ConfigValue]) -> Endpoint {
        Endpoint(name: "e", type: "http-in", settings: settings.merging(["auth": .string("none")]) { a, _ in a })
    }
}
