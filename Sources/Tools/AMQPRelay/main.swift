// stadtbus-amqp-relay — consumes a queue with manual acks, republishes every message (with publisher
// confirms) to another queue and acks only after the confirm. Used by the transport's reliability tests
// (broker restarts, SIGKILL of this process) and as a minimal example of the ack rule.
//
//   stadtbus-amqp-relay --port 5692 --from IN --to OUT [--prefetch 200] [--host 127.0.0.1] [--exit-on-stdin-eof]
//   password: $STADTBUS_AMQP_PASSWORD (user: --user, default guest)
import Foundation
import Logging
import StadtbusAMQP

func argument(_ name: String, default value: String? = nil) -> String? {
    let args = CommandLine.arguments
    if let index = args.firstIndex(of: "--\(name)"), index + 1 < args.count { return args[index + 1] }
    return value
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("stadtbus-amqp-relay: \(message)\n".utf8))
    exit(2)
}

guard let from = argument("from"), let to = argument("to") else {
    fail("usage: stadtbus-amqp-relay --port PORT --from QUEUE --to QUEUE [--prefetch N] [--host HOST] [--user USER]")
}
guard let port = Int(argument("port", default: "5672") ?? ""),
    let prefetch = UInt16(argument("prefetch", default: "200") ?? "")
else { fail("--port and --prefetch must be numbers") }

let endpoint = AMQPEndpoint(
    host: argument("host", default: "127.0.0.1") ?? "127.0.0.1", port: port,
    username: argument("user", default: "guest") ?? "guest",
    password: .env("STADTBUS_AMQP_PASSWORD"), heartbeat: 10,
    reconnect: AMQPReconnectPolicy(minimumDelay: .milliseconds(200), maximumDelay: .seconds(2)),
    connectionName: "stadtbus-amqp-relay")

if CommandLine.arguments.contains("--exit-on-stdin-eof") {
    // for supervised runs (tests): exit when the parent closes our stdin or dies
    Thread.detachNewThread {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(0, &buffer, buffer.count) > 0 {}
        exit(0)
    }
}

let logger: Logger = {
    var logger = Logger(label: "stadtbus.amqp.relay")
    logger.logLevel = .info
    return logger
}()

do {
    // One connection consumes, one publishes: a broker blocking publishers then never blocks acks.
    let consuming = try await AMQPConnection.connect(endpoint, logger: logger)
    let publishing = try await AMQPConnection.connect(endpoint, logger: logger)
    let publisher = publishing.publisher()
    let consumer = try await consuming.consume(queue: from, prefetch: prefetch)
    FileHandle.standardError.write(Data("stadtbus-amqp-relay: relaying \(from) → \(to)\n".utf8))
    await withTaskGroup(of: Void.self) { group in
        for await delivery in consumer.deliveries {
            group.addTask {
                do {
                    try await publisher.publish(AMQPOutgoingMessage(delivery), exchange: "", routingKey: to)
                } catch {
                    logger.error("republish failed; message goes back to the queue", metadata: ["error": "\(error)"])
                    try? await delivery.nack(requeue: true)
                    return
                }
                do {
                    try await delivery.ack()
                } catch {
                    // stale delivery after a reconnect: the broker redelivers it (a duplicate downstream)
                }
            }
        }
    }
} catch {
    fail("\(error)")
}
