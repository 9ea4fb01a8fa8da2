import Foundation
import StadtbusAMQP
import XCTest

/// Against the `tls` node (scripts/broker start tls): AMQPS only, broker certificate from the dev CA,
/// client certificate required (`fail_if_no_peer_cert = true`).
final class TLSTests: XCTestCase {
    private var port = 0

    override func setUp() async throws {
        try Broker.start("tls")
        port = try Broker.port("tls")
    }

    private func endpoint(_ tls: AMQPTLS) -> AMQPEndpoint {
        var endpoint = Broker.endpoint(port: port)
        endpoint.host = "localhost"
        endpoint.tls = tls
        return endpoint
    }

    private var ca: String { Broker.certs.appendingPathComponent("ca/ca.pem").path }
    private var clientCert: String { Broker.certs.appendingPathComponent("broker/client.pem").path }
    private var clientKey: String { Broker.certs.appendingPathComponent("broker/client.key").path }

    func testMutualTLSWithCAVerification() async throws {
        let connection = try await AMQPConnection.connect(
            endpoint(AMQPTLS(caFile: ca, certFile: clientCert, keyFile: clientKey)))
        let queue = uniqueName("tls")
        try await connection.declare(
            AMQPTopology(queues: [AMQPQueue(queue, kind: .classic, durable: false, autoDelete: true)]))
        let consumer = try await connection.consume(queue: queue)
        try await connection.publisher().publish(
            AMQPOutgoingMessage(body: Array("über TLS".utf8), messageID: "t1"), exchange: "", routingKey: queue)
        let delivery = try await next(consumer)
        XCTAssertEqual(delivery.messageID, "t1")
        try await delivery.ack()
        await connection.close()
    }

    func testBrokerRequiresClientCertificate() async throws {
        do {
            let connection = try await AMQPConnection.connect(endpoint(AMQPTLS(caFile: ca)))
            await connection.close()
            XCTFail("connected without the client certificate the broker requires")
        } catch let error as AMQPError {
            guard case .tlsFailed = error else { return XCTFail("expected a TLS error, got \(error)") }
            print("without client certificate: \(error)")
        }
    }

    func testWrongCAFailsWithTLSError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("wrong-ca"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let wrongCA = dir.appendingPathComponent("ca.pem").path
        try Broker.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            "/CN=Not The Stadtbus CA",
            "-keyout", dir.appendingPathComponent("ca.key").path, "-out", wrongCA,
        ])
        do {
            let connection = try await AMQPConnection.connect(
                endpoint(AMQPTLS(caFile: wrongCA, certFile: clientCert, keyFile: clientKey)))
            await connection.close()
            XCTFail("connected although the broker certificate is not from the configured CA")
        } catch let error as AMQPError {
            guard case .tlsFailed = error else { return XCTFail("expected a TLS error, got \(error)") }
            XCTAssertTrue(error.description.contains("TLS"), error.description)
            print("wrong CA: \(error)")
        }
    }

    func testMissingCAFileIsAConfigurationError() async throws {
        do {
            _ = try await AMQPConnection.connect(endpoint(AMQPTLS(caFile: "/nonexistent/ca.pem")))
            XCTFail("missing CA file accepted")
        } catch let error as AMQPError {
            guard case .configuration = error else { return XCTFail("expected a configuration error, got \(error)") }
        }
    }
}
