import Foundation
import StadtbusAMQP
import XCTest

/// Round trip with a client this project did not write (Python pika, installed into run/venv by
/// scripts/lib.sh `ensure_pika`): pika publishes → Stadtbus consumes and republishes → pika consumes.
final class InteropTests: XCTestCase {
    static let publishScript = """
        import datetime, sys, pika
        queue = sys.argv[1]
        connection = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', 5672))
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            message_id='xoev-4711', correlation_id='corr-0815', timestamp=1780000000,
            content_type='application/xml', delivery_mode=2,
            headers={'x-stadtbus-route': 'bauleitplanung', 'x-stadtbus-attempt': 3, 'flag': True,
                     'big': 9000000000, 'when': datetime.datetime(2026, 5, 1, 12, 0, 0),
                     'nested': {'ags': '01061046', 'n': 7}})
        channel.basic_publish('', queue, '<nachricht>Grüße</nachricht>'.encode(), properties, mandatory=True)
        connection.close()
        """

    static let consumeScript = """
        import datetime, json, sys, time, pika
        queue = sys.argv[1]
        connection = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', 5672))
        channel = connection.channel()
        for _ in range(100):
            method, p, body = channel.basic_get(queue, auto_ack=True)
            if method: break
            time.sleep(0.1)
        else:
            sys.exit('nothing arrived')
        def plain(v):
            if isinstance(v, datetime.datetime): return 'ts:' + v.replace(tzinfo=datetime.timezone.utc).isoformat()
            if isinstance(v, bytes): return v.decode()
            if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
            return v
        print(json.dumps({'body': body.decode(), 'message_id': p.message_id, 'correlation_id': p.correlation_id,
            'timestamp': p.timestamp, 'content_type': p.content_type, 'delivery_mode': p.delivery_mode,
            'headers': plain(p.headers)}, sort_keys=True))
        connection.close()
        """

    func testForeignClientRoundTrip() async throws {
        try Broker.start("main")
        let python =
            try Broker.run(["bash", "-c", "source scripts/lib.sh && ensure_pika"])
            .split(separator: "\n").last.map(String.init) ?? ""
        let input = uniqueName("interop.in")
        let output = uniqueName("interop.out")
        let connection = try await AMQPConnection.connect(Broker.endpoint())
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(input), AMQPQueue(output)]))
        try Broker.run([python, "-c", Self.publishScript, input])

        let consumer = try await connection.consume(queue: input)
        let delivery = try await next(consumer)
        XCTAssertEqual(delivery.properties.messageID, "xoev-4711")
        XCTAssertEqual(delivery.properties.correlationID, "corr-0815")
        XCTAssertEqual(delivery.properties.timestamp, Date(timeIntervalSince1970: 1_780_000_000))
        XCTAssertEqual(delivery.properties.contentType, "application/xml")
        XCTAssertTrue(delivery.properties.persistent)
        XCTAssertEqual(delivery.headers[AMQPHeaderName.route], "bauleitplanung")
        XCTAssertEqual(delivery.headers[AMQPHeaderName.attempt], 3)
        XCTAssertEqual(delivery.headers["flag"], true)
        XCTAssertEqual(delivery.headers["big"], .int(9_000_000_000))
        XCTAssertEqual(delivery.headers["when"], .timestamp(Date(timeIntervalSince1970: 1_777_636_800)))
        XCTAssertEqual(delivery.headers["nested"], .table(["ags": "01061046", "n": 7]))
        XCTAssertEqual(String(decoding: delivery.body, as: UTF8.self), "<nachricht>Grüße</nachricht>")

        var outgoing = AMQPOutgoingMessage(delivery)
        outgoing.headers[AMQPHeaderName.errorStep] = "none"
        try await connection.publisher().publish(outgoing, exchange: "", routingKey: output)
        try await delivery.ack()
        await connection.close()

        let json = try Broker.run([python, "-c", Self.consumeScript, output])
        guard let line = json.split(separator: "\n").last,
            let seen = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { return XCTFail("pika printed no JSON: \(json)") }
        XCTAssertEqual(seen["body"] as? String, "<nachricht>Grüße</nachricht>")
        XCTAssertEqual(seen["message_id"] as? String, "xoev-4711")
        XCTAssertEqual(seen["correlation_id"] as? String, "corr-0815")
        XCTAssertEqual(seen["timestamp"] as? Int, 1_780_000_000)
        XCTAssertEqual(seen["content_type"] as? String, "application/xml")
        XCTAssertEqual(seen["delivery_mode"] as? Int, 2)
        let headers = seen["headers"] as? [String: Any] ?? [:]
        XCTAssertEqual(headers["x-stadtbus-route"] as? String, "bauleitplanung")
        XCTAssertEqual(headers["x-stadtbus-attempt"] as? Int, 3)
        XCTAssertEqual(headers["x-stadtbus-error-step"] as? String, "none")
        XCTAssertEqual(headers["flag"] as? Bool, true)
        XCTAssertEqual(headers["big"] as? Int, 9_000_000_000)
        XCTAssertEqual(headers["when"] as? String, "ts:2026-05-01T12:00:00+00:00")
        XCTAssertEqual((headers["nested"] as? [String: Any])?["ags"] as? String, "01061046")
        XCTAssertEqual((headers["nested"] as? [String: Any])?["n"] as? Int, 7)
    }
}
