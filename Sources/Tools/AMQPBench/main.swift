// stadtbus-amqp-bench — publish N persistent messages with confirms and consume them with acks, once through
// the StadtbusAMQP façade and once through a minimal pipelined raw rabbitmq-c loop (the ceiling).
// Prints one figure per line (`name value unit`) and the façade/raw ratios. Asserts nothing.
//
//   swift run -c release stadtbus-amqp-bench [--count 20000] [--size 4096] [--window 1000] [--prefetch 500]
//                                           [--port 5672] [--queue-type quorum|classic] [--rounds 3]
//
// The machine is shared (other builds, the broker itself), so raw and façade runs alternate for --rounds
// rounds and the best and the median of each are printed; the ratios use the best runs.
//   password: $STADTBUS_AMQP_PASSWORD (default guest for the local development broker)
import CRabbitMQ
import Foundation
import StadtbusAMQP

func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let index = args.firstIndex(of: "--\(name)"), index + 1 < args.count { return args[index + 1] }
    return fallback
}

let count = Int(option("count", "20000")) ?? 20000
let size = Int(option("size", "4096")) ?? 4096
let window = Int(option("window", "1000")) ?? 1000
let prefetch = UInt16(option("prefetch", "500")) ?? 500
let port = Int(option("port", "5672")) ?? 5672
let queueKind = AMQPQueue.Kind(rawValue: option("queue-type", "quorum")) ?? .quorum
let rounds = max(1, Int(option("rounds", "3")) ?? 3)
let password = ProcessInfo.processInfo.environment["STADTBUS_AMQP_PASSWORD"] ?? "guest"
let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)

func figure(_ name: String, _ value: Double, _ unit: String) {
    print("\(name) \(String(format: "%.1f", value)) \(unit)")
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// CPU seconds (user + system) this process used so far: raw and façade phases run one after the other,
/// so the difference over a phase is that phase's cost (connection thread, tasks, and the load loop itself).
func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Elapsed time and CPU microseconds per message of the publish and the consume phase of one run.
struct Phases {
    var publish: Duration
    var consume: Duration
    var publishCPU: Double
    var consumeCPU: Double
    var meanConfirm: Duration = .zero
}

// MARK: raw rabbitmq-c

enum Raw {
    static func check(_ state: amqp_connection_state_t, _ what: String) {
        let reply = amqp_get_rpc_reply(state)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            FileHandle.standardError.write(Data("raw: \(what) failed (\(reply.reply_type))\n".utf8))
            exit(1)
        }
    }

    static func bytes(_ s: String) -> amqp_bytes_t { amqp_cstring_bytes(strdup(s)) }  // leaked: a few strings

    static func connect() -> amqp_connection_state_t {
        guard let state = amqp_new_connection(), let socket = amqp_tcp_socket_new(state),
            amqp_socket_open(socket, "127.0.0.1", Int32(port)) == 0
        else {
            FileHandle.standardError.write(Data("raw: cannot connect to 127.0.0.1:\(port)\n".utf8))
            exit(1)
        }
        let reply = stadtbus_amqp_login_plain(state, "/", 0, 131_072, 30, "guest", password)
        if reply.reply_type != AMQP_RESPONSE_NORMAL { exit(1) }
        return state
    }

    /// Publishes `count` messages keeping up to `window` unconfirmed; returns the elapsed time.
    static func publish(_ state: amqp_connection_state_t, queue: String) -> Duration {
        amqp_channel_open(state, 1)
        check(state, "channel.open")
        amqp_confirm_select(state, 1)
        check(state, "confirm.select")
        var props = amqp_basic_properties_t()
        props._flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG)
        props.delivery_mode = 2
        let exchange = bytes("")
        let key = bytes(queue)
        var sent = 0
        var confirmed = 0
        var frame = amqp_frame_t()
        let start = ContinuousClock.now
        body.withUnsafeBytes { raw in
            let payload = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            while confirmed < count {
                while sent < count && sent - confirmed < window {
                    var id = Array("raw-\(sent)".utf8)
                    id.withUnsafeMutableBytes { idBytes in
                        props.message_id = amqp_bytes_t(len: idBytes.count, bytes: idBytes.baseAddress)
                        _ = amqp_basic_publish(state, 1, exchange, key, 0, 0, &props, payload)
                    }
                    sent += 1
                }
                var tv = timeval(tv_sec: 10, tv_usec: 0)
                guard amqp_simple_wait_frame_noblock(state, &frame, &tv) == 0 else { exit(1) }
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD) && frame.payload.method.id == 0x003C_0050,
                    let decoded = frame.payload.method.decoded
                {
                    let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                    confirmed = ack.multiple != 0 ? Int(ack.delivery_tag) : confirmed + 1
                }
                amqp_maybe_release_buffers(state)
            }
        }
        return ContinuousClock.now - start
    }

    /// Consumes `count` messages with prefetch and one ack per message; returns the elapsed time.
    static func consume(_ state: amqp_connection_state_t, queue: String) -> Duration {
        amqp_channel_open(state, 2)
        check(state, "channel.open")
        amqp_basic_qos(state, 2, 0, prefetch, 0)
        check(state, "basic.qos")
        amqp_basic_consume(
            state, 2, bytes(queue), amqp_bytes_t(len: 0, bytes: nil), 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        check(state, "basic.consume")
        var received = 0
        var bodyLeft = 0
        var tag: UInt64 = 0
        var frame = amqp_frame_t()
        let start = ContinuousClock.now
        while received < count {
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            guard amqp_simple_wait_frame_noblock(state, &frame, &tv) == 0 else { exit(1) }
            switch Int32(frame.frame_type) {
            case AMQP_FRAME_METHOD where frame.payload.method.id == 0x003C_003C:
                if let decoded = frame.payload.method.decoded {
                    tag = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee.delivery_tag
                }
            case AMQP_FRAME_HEADER:
                bodyLeft = Int(frame.payload.properties.body_size)
            case AMQP_FRAME_BODY:
                bodyLeft -= frame.payload.body_fragment.len
                if bodyLeft <= 0 {
                    received += 1
                    _ = amqp_basic_ack(state, 2, tag, 0)
                }
            default:
                break
            }
            amqp_maybe_release_buffers(state)
        }
        return ContinuousClock.now - start
    }

    static func run(queue: String) -> Phases {
        let state = connect()
        let cpu0 = processCPU()
        let publish = publish(state, queue: queue)
        let cpu1 = processCPU()
        let consume = consume(state, queue: queue)
        let cpu2 = processCPU()
        amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        amqp_destroy_connection(state)
        return Phases(
            publish: publish, consume: consume, publishCPU: (cpu1 - cpu0) / Double(count) * 1e6,
            consumeCPU: (cpu2 - cpu1) / Double(count) * 1e6)
    }
}

// MARK: façade

func runFacade(endpoint: AMQPEndpoint, queue: String) async throws -> Phases {
    let publishing = try await AMQPConnection.connect(endpoint, publishWindow: window)
    let publisher = publishing.publisher()
    let cpu0 = processCPU()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        func add() {
            let id = "facade-\(next)"
            next += 1
            group.addTask {
                try await publisher.publish(
                    AMQPOutgoingMessage(body: body, messageID: id), exchange: "", routingKey: queue, mandatory: false)
            }
        }
        // The connection keeps `window` publishes unconfirmed at the broker, as the raw loop does; twice as many
        // callers keep its backlog from running dry while confirms are handed back to the tasks.
        while next < min(2 * window, count) { add() }
        while try await group.next() != nil {
            if next < count { add() }
        }
    }
    let publish = ContinuousClock.now - start
    let cpu1 = processCPU()
    let meanConfirm = publishing.statistics.meanConfirmLatency
    await publishing.close()

    let consuming = try await AMQPConnection.connect(endpoint)
    let consumer = try await consuming.consume(queue: queue, prefetch: prefetch)
    let cpu2 = processCPU()
    let consumeStart = ContinuousClock.now
    var received = 0
    for await delivery in consumer.deliveries {
        try await delivery.ack()
        received += 1
        if received == count { break }
    }
    let consume = ContinuousClock.now - consumeStart
    let cpu3 = processCPU()
    await consuming.close()
    return Phases(
        publish: publish, consume: consume, publishCPU: (cpu1 - cpu0) / Double(count) * 1e6,
        consumeCPU: (cpu3 - cpu2) / Double(count) * 1e6, meanConfirm: meanConfirm)
}

let endpoint = AMQPEndpoint(
    host: "127.0.0.1", port: port, username: "guest", password: .literal(password),
    connectionName: "stadtbus-amqp-bench")
let setup = try await AMQPConnection.connect(endpoint)
print(
    "# \(count) persistent messages of \(size) bytes, \(queueKind.rawValue) queue, window \(window), prefetch \(prefetch), \(rounds) rounds"
)
var rawPublish: [Double] = []
var rawConsume: [Double] = []
var facadePublish: [Double] = []
var facadeConsume: [Double] = []
var facadeLatency: [Double] = []
var cpu: [String: [Double]] = [:]
for _ in 0..<rounds {
    let suffix = UUID().uuidString.prefix(8).lowercased()
    let rawQueue = "bench.raw.\(suffix)"
    let facadeQueue = "bench.facade.\(suffix)"
    try await setup.declare(
        AMQPTopology(queues: [AMQPQueue(rawQueue, kind: queueKind), AMQPQueue(facadeQueue, kind: queueKind)]))
    let raw = Raw.run(queue: rawQueue)
    let facade = try await runFacade(endpoint: endpoint, queue: facadeQueue)
    rawPublish.append(Double(count) / seconds(raw.publish))
    rawConsume.append(Double(count) / seconds(raw.consume))
    facadePublish.append(Double(count) / seconds(facade.publish))
    facadeConsume.append(Double(count) / seconds(facade.consume))
    facadeLatency.append(seconds(facade.meanConfirm) * 1000)
    cpu["raw_publish_confirm", default: []].append(raw.publishCPU)
    cpu["raw_consume_ack", default: []].append(raw.consumeCPU)
    cpu["facade_publish_confirm", default: []].append(facade.publishCPU)
    cpu["facade_consume_ack", default: []].append(facade.consumeCPU)
    try await setup.delete(queues: [rawQueue, facadeQueue])
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
for (name, values) in [
    ("raw_publish_confirm", rawPublish), ("raw_consume_ack", rawConsume),
    ("facade_publish_confirm", facadePublish), ("facade_consume_ack", facadeConsume),
] {
    figure("\(name)_best", values.max() ?? 0, "msg/s")
    figure("\(name)_median", median(values), "msg/s")
    figure("\(name)_cpu_us_best", cpu[name]?.min() ?? 0, "us/msg")
    figure("\(name)_cpu_us_median", median(cpu[name] ?? [0]), "us/msg")
}
figure("facade_mean_confirm_latency_median", median(facadeLatency), "ms")
figure("ratio_publish_confirm_best", 100 * (facadePublish.max() ?? 0) / (rawPublish.max() ?? 1), "%")
figure("ratio_consume_ack_best", 100 * (facadeConsume.max() ?? 0) / (rawConsume.max() ?? 1), "%")
figure("ratio_publish_confirm_median", 100 * median(facadePublish) / median(rawPublish), "%")
figure("ratio_consume_ack_median", 100 * median(facadeConsume) / median(rawConsume), "%")
await setup.close()
