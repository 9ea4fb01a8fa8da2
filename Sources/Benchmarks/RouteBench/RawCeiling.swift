// The raw ceiling (issue 8, figure 1): `stadtbus-raw-relay` — a pipelined relay on bare rabbitmq-c,
// no processing — relays the same 10 KB messages as the passthrough route, driven by the same load
// generator, so that `e2e_wN_passthrough_vs_raw` compares like with like.
import Foundation
import StadtbusAMQP

/// Rate and CPU cost of the raw relay.
struct RawCeiling {
    var rate: Double
    var cpuMicrosPerMessage: Double
}

/// Runs `stadtbus-raw-relay` over two fresh queues with `count` messages and prints its figures.
func measureRawCeiling(
    options: Options, relay: String, connection: AMQPConnection, publisher: AMQPPublisher, template: MessageTemplate,
    runID: String, count: Int
) async -> RawCeiling? {
    guard FileManager.default.isExecutableFile(atPath: relay) else {
        FileHandle.standardError.write(Data("stadtbus-bench: no raw relay at \(relay): raw ceiling skipped\n".utf8))
        return nil
    }
    let input = "bench-\(runID)-raw.in"
    let output = "bench-\(runID)-raw.out"
    let counter = Counter()
    do {
        try await connection.declare(AMQPTopology(queues: [AMQPQueue(input), AMQPQueue(output)]))
        let consumer = try await connection.consume(queue: output, prefetch: 500)
        Task {
            for await delivery in consumer.deliveries {
                try? await delivery.ack()
                counter.add(latency: nil)
            }
        }
    } catch { fail("raw relay set-up: \(error)") }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: relay)
    process.arguments = ["--from", input, "--to", output, "--count", "\(count)", "--port", "\(options.port)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    do { try process.run() } catch { fail("cannot start \(relay): \(error)") }
    usleep(200_000)  // connected and consuming before the load starts
    let t0 = wallClock()
    await publish(publisher, queue: input, template: template, range: 0..<count, prefix: 0x0a00_0000)
    await counter.wait(for: count)
    let elapsed = wallClock() - t0
    // The relay exits after its last ack and prints `relayed N cpu_seconds S wall_seconds W`.
    let summary = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let fields = summary.split(whereSeparator: \.isWhitespace)
    guard process.terminationStatus == 0, let index = fields.firstIndex(of: "cpu_seconds"), index + 1 < fields.count,
        let cpu = Double(fields[index + 1])
    else { fail("raw relay failed: \(summary)") }
    let ceiling = RawCeiling(rate: Double(count) / elapsed, cpuMicrosPerMessage: cpu / Double(count) * 1e6)
    figure("e2e_raw_relay_messages", Double(count), "messages")
    figure("e2e_raw_relay_rate", ceiling.rate, "msg/s")
    figure("e2e_raw_relay_cpu_us", ceiling.cpuMicrosPerMessage, "us/msg", decimals: 1)
    return ceiling
}
