// stadtbus-raw-relay — the raw ceiling of the route benchmark (issue 8): a minimal, single-threaded,
// pipelined relay written directly against rabbitmq-c. It consumes one queue with manual acks and
// a prefetch window, republishes every body unchanged (persistent, with publisher confirms) to
// another queue, and acks each delivery once the broker confirmed its copy — the ack rule with no
// processing at all. `stadtbus-bench e2e` runs it on the same messages as the passthrough route and
// prints the ratio.
//
//   stadtbus-raw-relay --from IN --to OUT --count N [--port 5672] [--prefetch 500]
//   password: $STADTBUS_AMQP_PASSWORD (default guest; user guest)
//
// Exits 0 after N deliveries were relayed and acked, printing `relayed N cpu_seconds S wall_seconds W`
// (wall time from the first delivery to the last ack). Exits 1 with a message on any broker error.
import CRabbitMQ
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

func option(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: "--\(name)"), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("stadtbus-raw-relay: \(text)\n".utf8))
    exit(1)
}

guard let from = option("from"), let to = option("to"), let count = option("count").flatMap(Int.init), count > 0 else {
    fail("usage: stadtbus-raw-relay --from QUEUE --to QUEUE --count N [--port PORT] [--prefetch N]")
}
let port = option("port").flatMap(Int32.init) ?? 5672
let prefetch = option("prefetch").flatMap(UInt16.init) ?? 500
let password = ProcessInfo.processInfo.environment["STADTBUS_AMQP_PASSWORD"] ?? "guest"

/// Method ids (class << 16 | method) of the frames the relay reads.
enum Method {
    static let deliver: amqp_method_number_t = 0x003C_003C
    static let ack: amqp_method_number_t = 0x003C_0050
    static let nack: amqp_method_number_t = 0x003C_0078
    static let channelClose: amqp_method_number_t = 0x0014_0028
    static let connectionClose: amqp_method_number_t = 0x000A_0032
}

func check(_ state: amqp_connection_state_t, _ what: String) {
    let reply = amqp_get_rpc_reply(state)
    if reply.reply_type != AMQP_RESPONSE_NORMAL { fail("\(what) failed (reply type \(reply.reply_type.rawValue))") }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

guard let state = amqp_new_connection(), let socket = amqp_tcp_socket_new(state),
    amqp_socket_open(socket, "127.0.0.1", port) == 0
else { fail("cannot connect to 127.0.0.1:\(port)") }
let login = stadtbus_amqp_login_plain(state, "/", 0, 131_072, 30, "guest", password)
if login.reply_type != AMQP_RESPONSE_NORMAL { fail("login refused") }

let channel: amqp_channel_t = 1
amqp_channel_open(state, channel)
check(state, "channel.open")
amqp_confirm_select(state, channel)
check(state, "confirm.select")
amqp_basic_qos(state, channel, 0, prefetch, 0)
check(state, "basic.qos")
let fromBytes = Array(from.utf8)
let toBytes = Array(to.utf8)
fromBytes.withUnsafeBytes { queue in
    _ = amqp_basic_consume(
        state, channel, amqp_bytes_t(len: queue.count, bytes: UnsafeMutableRawPointer(mutating: queue.baseAddress)),
        amqp_bytes_t(len: 0, bytes: nil), 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
}
check(state, "basic.consume")

// Publish sequence numbers and the delivery each copy came from, in publish order; a confirm
// settles a prefix of it, and the newest delivery of that prefix is acked with `multiple`.
var pending: [(sequence: UInt64, deliveryTag: UInt64)] = []
var pendingHead = 0
var confirmedOutOfOrder = Set<UInt64>()
var nextSequence: UInt64 = 1
var acked = 0
var firstDelivery: Double?
var body: [UInt8] = []
var bodyExpected = 0
var deliveryTag: UInt64 = 0
var properties = amqp_basic_properties_t()
properties._flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
properties.delivery_mode = 2
let cpuStart = cpuSeconds()

/// Settles publishes confirmed up to `tag` (all of them when `multiple`), acking their deliveries.
func confirm(_ tag: UInt64, multiple: Bool) {
    if multiple {
        while pendingHead < pending.count, pending[pendingHead].sequence <= tag { pendingHead += 1 }
    } else {
        confirmedOutOfOrder.insert(tag)
        while pendingHead < pending.count, confirmedOutOfOrder.remove(pending[pendingHead].sequence) != nil {
            pendingHead += 1
        }
    }
    guard pendingHead > 0 else { return }
    let last = pending[pendingHead - 1].deliveryTag
    if amqp_basic_ack(state, channel, last, 1) != 0 { fail("basic.ack failed") }
    acked += pendingHead
    pending.removeFirst(pendingHead)
    pendingHead = 0
}

func publishBody() {
    let status = toBytes.withUnsafeBytes { key in
        body.withUnsafeBytes { payload in
            amqp_basic_publish(
                state, channel, amqp_bytes_t(len: 0, bytes: nil),
                amqp_bytes_t(len: key.count, bytes: UnsafeMutableRawPointer(mutating: key.baseAddress)), 0, 0,
                &properties,
                amqp_bytes_t(len: payload.count, bytes: UnsafeMutableRawPointer(mutating: payload.baseAddress)))
        }
    }
    if status != 0 { fail("basic.publish failed (\(status))") }
    pending.append((nextSequence, deliveryTag))
    nextSequence += 1
}

var frame = amqp_frame_t()
while acked < count {
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    let status = amqp_simple_wait_frame_noblock(state, &frame, &timeout)
    if status == AMQP_STATUS_TIMEOUT.rawValue { fail("no frame for 30 s (\(acked) of \(count) relayed)") }
    if status != 0 { fail("connection lost (status \(status))") }
    switch Int32(frame.frame_type) {
    case AMQP_FRAME_METHOD:
        let decoded = frame.payload.method.decoded
        switch frame.payload.method.id {
        case Method.deliver:
            if firstDelivery == nil { firstDelivery = now() }
            deliveryTag = decoded?.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee.delivery_tag ?? 0
        case Method.ack:
            if let ack = decoded?.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee {
                confirm(ack.delivery_tag, multiple: ack.multiple != 0)
            }
        case Method.nack: fail("the broker refused a publish (basic.nack)")
        case Method.channelClose, Method.connectionClose: fail("the broker closed the channel")
        default: break
        }
    case AMQP_FRAME_HEADER:
        bodyExpected = Int(frame.payload.properties.body_size)
        body.removeAll(keepingCapacity: true)
        if bodyExpected == 0 { publishBody() }
    case AMQP_FRAME_BODY:
        let fragment = frame.payload.body_fragment
        if let bytes = fragment.bytes {
            body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
        }
        if body.count >= bodyExpected { publishBody() }
    default:
        break
    }
    amqp_maybe_release_buffers(state)
}
let wall = now() - (firstDelivery ?? now())
print(String(format: "relayed %d cpu_seconds %.3f wall_seconds %.3f", acked, cpuSeconds() - cpuStart, wall))
amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
amqp_destroy_connection(state)
