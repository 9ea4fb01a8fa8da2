import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

final class PublishConsumeTests: XCTestCase {
    override func setUp() async throws {
        try Broker.start("main")
    }

    func testPropertiesAndHeadersRoundTrip() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let queue = uniqueName("roundtrip")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let timestamp = Date(timeIntervalSince1970: 1_780_000_000)
        let message = AMQPOutgoingMessage(
            body: Array("<xml>Grüße</xml>".utf8), messageID: "m-1", correlationID: "c-1", timestamp: timestamp,
            contentType: "application/xml",
            headers: [
                AMQPHeaderName.route: "bauleitplanung", AMQPHeaderName.attempt: 2, "flag": true,
                "seen": .timestamp(timestamp), "nested": .table(["a": 1, "b": "x"]),
            ])
        try await connection.publisher().publish(message, exchange: "", routingKey: queue)
        let delivery = try await next(consumer)
        XCTAssertEqual(delivery.body, message.body)
        XCTAssertEqual(delivery.properties.messageID, "m-1")
        XCTAssertEqual(delivery.properties.correlationID, "c-1")
        XCTAssertEqual(delivery.properties.timestamp, timestamp)
        XCTAssertEqual(delivery.properties.contentType, "application/xml")
        XCTAssertTrue(delivery.properties.persistent)
        XCTAssertEqual(delivery.headers, message.headers)
        XCTAssertFalse(delivery.redelivered)
        XCTAssertEqual(delivery.queue, queue)
        try await delivery.ack()
    }

    func testUnroutableMandatoryPublishFails() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let exchange = uniqueName("nowhere")
        try await connection.declare(AMQPTopology(exchanges: [AMQPExchange(exchange, kind: .direct, autoDelete: true)]))
        let publisher = connection.publisher()
        do {
            try await publisher.publish(
                AMQPOutgoingMessage(body: [1], messageID: "u-1"), exchange: exchange, routingKey: "no.such.key")
            XCTFail("unroutable publish succeeded")
        } catch let error as AMQPError {
            guard case .unroutable(let ex, let key, let code, let text) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(ex, exchange)
            XCTAssertEqual(key, "no.such.key")
            XCTAssertEqual(code, 312)
            XCTAssertEqual(text, "NO_ROUTE")
            XCTAssertTrue(error.description.contains("unroutable"), error.description)
        }
        // Without mandatory the broker drops it and confirms (documented AMQP behaviour).
        try await publisher.publish(
            AMQPOutgoingMessage(body: [1]), exchange: exchange, routingKey: "x", mandatory: false)
        // Routable publishes in the same window still succeed, and a return is matched to the right publish.
        let queue = uniqueName("routable")
        try await connection.declare(
            AMQPTopology(
                queues: [AMQPQueue(queue)], bindings: [AMQPBinding(exchange: exchange, queue: queue, routingKey: "ok")])
        )
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<200 {
                group.addTask {
                    do {
                        try await publisher.publish(
                            AMQPOutgoingMessage(body: [UInt8(i % 256)], messageID: "m\(i)"), exchange: exchange,
                            routingKey: i % 10 == 0 ? "lost" : "ok")
                        return (i, true)
                    } catch {
                        return (i, false)
                    }
                }
            }
            var results: [Int: Bool] = [:]
            for await (i, ok) in group { results[i] = ok }
            return results
        }
        for i in 0..<200 { XCTAssertEqual(results[i], i % 10 != 0, "publish \(i)") }
    }

    func testQueueFullRejectPublishIsNacked() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let publisher = connection.publisher()
        // classic queue: exactly maxLength messages fit
        let classic = uniqueName("full-classic")
        try await connection.declare(
            AMQPTopology(queues: [AMQPQueue(classic, kind: .classic, maxLength: 3, overflow: .rejectPublish)]))
        for i in 0..<3 {
            try await publisher.publish(AMQPOutgoingMessage(body: [UInt8(i)]), exchange: "", routingKey: classic)
        }
        do {
            try await publisher.publish(AMQPOutgoingMessage(body: [9]), exchange: "", routingKey: classic)
            XCTFail("publish into a full reject-publish queue succeeded")
        } catch AMQPError.nackedByBroker(let exchange, let key) {
            XCTAssertEqual(exchange, "")
            XCTAssertEqual(key, classic)
        }
        // quorum queue: the broker evaluates the limit after the enqueue that crosses it, so one
        // message more may be accepted; then publishes are nacked
        let quorum = uniqueName("full-quorum")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(quorum, maxLength: 3, overflow: .rejectPublish)]))
        var accepted = 0
        var nacked = 0
        for i in 0..<8 {
            do {
                try await publisher.publish(AMQPOutgoingMessage(body: [UInt8(i)]), exchange: "", routingKey: quorum)
                accepted += 1
            } catch AMQPError.nackedByBroker {
                nacked += 1
            }
        }
        XCTAssertLessThanOrEqual(accepted, 4)
        XCTAssertEqual(accepted + nacked, 8)
    }

    func testLoginRefused() async throws {
        do {
            _ = try await AMQPConnection.connect(Broker.endpoint(password: .literal("wrong-password")))
            XCTFail("login with a wrong password succeeded")
        } catch let error as AMQPError {
            guard case .loginRefused = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.description.contains("refused the login"), error.description)
        }
    }

    func testConnectionRefusedAndMissingSecret() async throws {
        // Bound but not listening while the test runs: refused, and no other process can take it meanwhile.
        let closed = try RefusingLoopbackPort()
        do {
            _ = try await AMQPConnection.connect(Broker.endpoint(port: closed.port))
            XCTFail("connect to a closed port succeeded")
        } catch let error as AMQPError {
            guard case .connectionFailed = error else { return XCTFail("\(error)") }
        }
        withExtendedLifetime(closed) {}
        do {
            _ = try await AMQPConnection.connect(Broker.endpoint(password: .env("STADTBUS_TEST_UNSET_VARIABLE")))
            XCTFail("missing secret accepted")
        } catch let error as AMQPError {
            XCTAssertEqual(
                error, .configuration("environment variable STADTBUS_TEST_UNSET_VARIABLE (AMQP password) is not set"))
        }
    }

    func testPasswordFromFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("secret"))
        try "guest\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let connection = try await AMQPConnection.connect(Broker.endpoint(password: .file(file.path)))
        await connection.close()
    }

    func testMissingExchangeAndConflictingDeclarationAreClearErrors() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        do {
            try await connection.publisher().publish(
                AMQPOutgoingMessage(body: [1]), exchange: uniqueName("missing"), routingKey: "x")
            XCTFail("publish to a missing exchange succeeded")
        } catch AMQPError.channelClosed(let code, _) {
            XCTAssertEqual(code, 404)
        }
        let queue = uniqueName("conflict")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue, maxLength: 10)]))
        do {
            try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue, maxLength: 20)]))
            XCTFail("conflicting declaration succeeded")
        } catch AMQPError.declarationFailed(_, let code, _) {
            XCTAssertEqual(code, 406)
        }
        // the connection is still usable on both channels
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue, maxLength: 10)]))
        try await connection.publisher().publish(AMQPOutgoingMessage(body: [1]), exchange: "", routingKey: queue)
        let consumer = try await connection.consume(queue: queue)
        try await next(consumer).ack()
        do {
            _ = try await connection.consume(queue: uniqueName("no-such-queue"))
            XCTFail("consuming a missing queue succeeded")
        } catch AMQPError.channelClosed(let code, _) {
            XCTAssertEqual(code, 404)
        }
    }

    func testNackRequeueRedeliversAndRejectDeadLetters() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        defer { Task { await connection.close() } }
        let route = uniqueName("route")
        let (topology, names) = AMQPTopology.standardRoute(route, retryDelays: [.milliseconds(300)])
        try await connection.declare(topology)
        let publisher = connection.publisher()
        let work = try await connection.consume(queue: names.workQueue, prefetch: 5)
        try await publisher.publish(
            AMQPOutgoingMessage(body: Array("a".utf8), messageID: "r-1", headers: [AMQPHeaderName.attempt: 1]),
            exchange: names.workExchange, routingKey: names.workRoutingKey)
        let first = try await next(work)
        XCTAssertFalse(first.redelivered)
        try await first.nack(requeue: true)
        let again = try await next(work)
        XCTAssertTrue(again.redelivered)
        XCTAssertEqual(again.messageID, "r-1")
        // delayed retry: publish to the retry exchange; after the TTL it is back in the work queue
        var retry = AMQPOutgoingMessage(again)
        retry.headers[AMQPHeaderName.attempt] = 2
        try await publisher.publish(retry, exchange: names.retryExchange, routingKey: names.retryRoutingKey(attempt: 1))
        try await again.ack()
        let start = ContinuousClock.now
        let retried = try await next(work)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(250))
        XCTAssertEqual(retried.messageID, "r-1")
        XCTAssertEqual(retried.headers[AMQPHeaderName.attempt], 2)
        // reject without requeue: dead-lettered
        try await retried.reject(requeue: false)
        let dead = try await connection.consume(queue: names.deadLetterQueue)
        let deadLetter = try await next(dead)
        XCTAssertEqual(deadLetter.messageID, "r-1")
        try await deadLetter.ack()
    }

    func testPipelinedPublishAndConsume() async throws {
        let connection = try await AMQPConnection.connect(Broker.endpoint(), publishWindow: 256)
        defer { Task { await connection.close() } }
        let queue = uniqueName("pipeline")
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(queue)]))
        let publisher = connection.publisher()
        let count = 2000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask {
                    try await publisher.publish(
                        AMQPOutgoingMessage(body: Array(repeating: 7, count: 4096), messageID: "p\(i)"), exchange: "",
                        routingKey: queue)
                }
            }
            try await group.waitForAll()
        }
        // statistics are a snapshot the connection thread refreshes once per loop: give it a moment
        var stats = connection.statistics
        for _ in 0..<100 where stats.confirmed < count {
            try await Task.sleep(for: .milliseconds(10))
            stats = connection.statistics
        }
        XCTAssertEqual(stats.confirmed, count)
        XCTAssertGreaterThan(stats.meanConfirmLatency, .zero)
        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        let received = try await withTimeout(30) {
            var received = 0
            for await delivery in consumer.deliveries {
                try await delivery.ack()
                received += 1
                if received == count { break }
            }
            return received
        }
        XCTAssertEqual(received, count)
    }
}
