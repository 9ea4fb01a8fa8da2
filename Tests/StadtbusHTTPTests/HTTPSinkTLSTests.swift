import Foundation
import HTTPOutAdapter
import StadtbusCore
import StadtbusTestSupport
import XCTest

/// `http-out` over TLS with client certificates (mTLS), against a receiver that demands a
/// certificate from the development CA (certs/make-dev-certs).
final class HTTPSinkTLSTests: XCTestCase {
    private let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()
    private var certs: String { root.appendingPathComponent("certs/out").path }
    private var receiver: Process?
    private var port = 0

    override func setUp() async throws {
        let make = Process()
        make.executableURL = root.appendingPathComponent("certs/make-dev-certs")
        make.standardOutput = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", root.appendingPathComponent("Tests/StadtbusHTTPTests/tls_receiver.py").path, "0", certs,
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        receiver = process
        // The receiver binds port 0 and prints "ready PORT" once it listens.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the receiver exited
            line.append(chunk)
        }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count == 2, words[0] == "ready", let bound = Int(words[1]) else {
            throw EndToEndFailure(
                "the TLS receiver did not report its port: '\(String(decoding: line, as: UTF8.self))'")
        }
        port = bound
    }

    override func tearDown() {
        receiver?.terminate()
    }

    private func endpoint(ca: String?, certificate: Bool, pin: String? = nil) -> Endpoint {
        var settings: [String: ConfigValue] = [
            "url": .string("https://localhost:\(port)/eingang"), "timeout": .duration(.seconds(5)),
        ]
        if let ca { settings["ca"] = .path(ca) }
        if certificate {
            settings["certificate"] = .path("\(certs)/broker/client.pem")
            settings["key"] = .path("\(certs)/broker/client.key")
        }
        if let pin { settings["pinned-public-key"] = .string(pin) }
        return Endpoint(name: "nachbar", type: "http-out", settings: settings)
    }

    private let message = OutgoingMessage(
        body: Array("<antrag/>".utf8), headers: [:], properties: MessageProperties(), messageID: "m-1", route: "r")

    func testMutualTLSWithTheDevelopmentCA() async throws {
        try await HTTPSink().deliver(message, to: endpoint(ca: "\(certs)/ca/ca.pem", certificate: true))
    }

    func testServerNotSignedByTheConfiguredCAIsRefusedPermanently() async throws {
        // The system store does not know the development CA.
        let error = await failure(endpoint(ca: nil, certificate: true))
        XCTAssertEqual(error?.code, "tls-verify", "\(String(describing: error))")
        XCTAssertEqual(error?.kind, .permanent)
    }

    func testWrongPinnedKeyIsRefusedPermanently() async throws {
        let error = await failure(
            endpoint(
                ca: "\(certs)/ca/ca.pem", certificate: true, pin: "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            ))
        XCTAssertEqual(error?.code, "tls-pin", "\(String(describing: error))")
    }

    func testReceiverDemandingAClientCertificateRefusesAConnectionWithout() async throws {
        let error = await failure(endpoint(ca: "\(certs)/ca/ca.pem", certificate: false))
        XCTAssertNotNil(error, "the receiver requires a client certificate")
    }

    private func failure(_ endpoint: Endpoint) async -> DeliveryError? {
        do {
            try await HTTPSink().deliver(message, to: endpoint)
            return nil
        } catch {
            return error as? DeliveryError
        }
    }
}
