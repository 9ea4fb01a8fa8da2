import CRabbitMQ
import Foundation
import Logging

/// AMQP method ids (the C macros carry casts and are not imported into Swift).
enum MethodID {
    static let connectionClose: UInt32 = 0x000A_0032
    static let connectionCloseOK: UInt32 = 0x000A_0033
    static let connectionBlocked: UInt32 = 0x000A_003C
    static let connectionUnblocked: UInt32 = 0x000A_003D
    static let channelClose: UInt32 = 0x0014_0028
    static let channelCloseOK: UInt32 = 0x0014_0029
    static let basicCancel: UInt32 = 0x003C_001E
    static let basicReturn: UInt32 = 0x003C_0032
    static let basicDeliver: UInt32 = 0x003C_003C
    static let basicAck: UInt32 = 0x003C_0050
    static let basicNack: UInt32 = 0x003C_0078
}

/// The broker closed a channel (the close-ok has already been sent).
struct ChannelClosed: Error {
    let channel: UInt16
    let code: Int
    let text: String
}

/// One rabbitmq-c connection. Used only by the connection's owner thread: rabbitmq-c is not thread-safe,
/// so every access to the rabbitmq-c state (``state``, and through it every method here) checks that it
/// runs on that thread.
final class Session {
    private let connection: amqp_connection_state_t
    let endpoint: AMQPEndpoint
    let ownership: ThreadOwnership

    private init(state: amqp_connection_state_t, endpoint: AMQPEndpoint, ownership: ThreadOwnership) {
        self.connection = state
        self.endpoint = endpoint
        self.ownership = ownership
    }

    deinit {
        ownership.precondition()
        amqp_destroy_connection(connection)
    }

    /// The rabbitmq-c connection; stops the process when read off the connection thread.
    var state: amqp_connection_state_t {
        ownership.precondition()
        return connection
    }

    static func timeval(_ duration: Duration) -> timeval {
        let parts = duration.components
        return Glibc.timeval(tv_sec: Int(parts.seconds), tv_usec: Int(parts.attoseconds / 1_000_000_000_000))
    }

    static func statusText(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    /// Opens the socket (TCP or TLS) and logs in.
    static func open(_ endpoint: AMQPEndpoint, password: String, ownership: ThreadOwnership) throws -> Session {
        ownership.precondition()
        guard let state = amqp_new_connection() else { throw AMQPError.protocolError("out of memory") }
        let session = Session(state: state, endpoint: endpoint, ownership: ownership)
        let target = endpoint.redactedURL
        let socket: OpaquePointer?
        if let tls = endpoint.tls {
            socket = try TLSSocket.make(state, tls)
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw AMQPError.protocolError("cannot create socket") }
        var timeout = timeval(endpoint.timeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        if status != AMQP_STATUS_OK.rawValue {
            if endpoint.tls != nil, TLSSocket.isTLSStatus(status) {
                throw AMQPError.tlsFailed(endpoint: target, reason: statusText(status))
            }
            throw AMQPError.connectionFailed(endpoint: target, reason: statusText(status))
        }
        amqp_set_handshake_timeout(state, &timeout)
        amqp_set_rpc_timeout(state, &timeout)

        let arena = CArena()
        var properties = arena.table(["connection_name": .string(endpoint.connectionName)])
        let reply = stadtbus_amqp_login_plain_with_properties(
            state, endpoint.vhost, 0, 131_072, Int32(endpoint.heartbeat), &properties, endpoint.username, password)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return session
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == MethodID.connectionClose:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = FieldTableDecoder.string(close.reply_text)
            if close.reply_code == 403 || close.reply_code == 530 {
                throw AMQPError.loginRefused(endpoint: target, reason: "\(close.reply_code) \(text)")
            }
            throw AMQPError.connectionFailed(endpoint: target, reason: "\(close.reply_code) \(text)")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let text = statusText(reply.library_error)
            if endpoint.tls != nil, TLSSocket.isTLSStatus(reply.library_error) {
                throw AMQPError.tlsFailed(
                    endpoint: target, reason: "\(text) during login (a client certificate may be required or rejected)")
            }
            if reply.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue
                || reply.library_error == AMQP_STATUS_SOCKET_CLOSED.rawValue
            {
                throw AMQPError.loginRefused(
                    endpoint: target, reason: "broker closed the connection during login: \(text)")
            }
            throw AMQPError.connectionFailed(endpoint: target, reason: "login failed: \(text)")
        default:
            throw AMQPError.connectionFailed(endpoint: target, reason: "login failed (no reply)")
        }
    }

    var socketFD: Int32 { amqp_get_sockfd(state) }

    /// Checks the reply of the last synchronous call; answers a broker close with close-ok.
    func checkReply(_ context: @autoclosure () -> String) throws {
        let reply = amqp_get_rpc_reply(state)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw AMQPError.connectionLost("\(context()): \(Self.statusText(reply.library_error))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            let id = reply.reply.id
            if id == MethodID.channelClose {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let text = FieldTableDecoder.string(close.reply_text)
                // The RPC happened on some channel; rabbitmq-c does not tell which, but synchronous
                // calls are made on one channel at a time and callers know it.
                throw ChannelClosed(channel: 0, code: Int(close.reply_code), text: text)
            }
            if id == MethodID.connectionClose {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                sendConnectionCloseOK()
                throw AMQPError.connectionLost(
                    "broker closed the connection: \(close.reply_code) \(FieldTableDecoder.string(close.reply_text))")
            }
            throw AMQPError.protocolError("\(context()): unexpected method 0x\(String(id, radix: 16))")
        default:
            throw AMQPError.protocolError("\(context()): no reply")
        }
    }

    /// Runs a synchronous call on `channel`; a channel close is answered and reported with the channel number.
    func rpc(_ channel: UInt16, _ context: @autoclosure () -> String, _ call: () -> Void) throws {
        call()
        do {
            try checkReply(context())
        } catch let closed as ChannelClosed {
            sendChannelCloseOK(channel)
            throw ChannelClosed(channel: channel, code: closed.code, text: closed.text)
        }
    }

    func sendChannelCloseOK(_ channel: UInt16) {
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, channel, MethodID.channelCloseOK, &ok)
    }

    func sendConnectionCloseOK() {
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, MethodID.connectionCloseOK, &ok)
    }

    func openChannel(_ channel: UInt16) throws {
        try rpc(channel, "channel.open \(channel)") { _ = amqp_channel_open(state, channel) }
    }

    func openConfirmChannel(_ channel: UInt16) throws {
        try openChannel(channel)
        try rpc(channel, "confirm.select") { _ = amqp_confirm_select(state, channel) }
    }

    /// Declares exchanges, queues and bindings on `channel`.
    func declare(_ topology: AMQPTopology, channel: UInt16) throws {
        for exchange in topology.exchanges {
            let arena = CArena()
            try declaration("exchange '\(exchange.name)' (\(exchange.kind.rawValue))", channel) {
                _ = amqp_exchange_declare(
                    state, channel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue), 0,
                    exchange.durable ? 1 : 0, exchange.autoDelete ? 1 : 0, exchange.internal ? 1 : 0,
                    arena.table(exchange.arguments))
            }
        }
        for queue in topology.queues {
            let arena = CArena()
            try declaration("queue '\(queue.name)' (\(queue.kind.rawValue))", channel) {
                _ = amqp_queue_declare(
                    state, channel, arena.bytes(queue.name), 0, queue.kind == .quorum || queue.durable ? 1 : 0,
                    queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, arena.table(queue.declareArguments))
            }
        }
        for binding in topology.bindings {
            let arena = CArena()
            try declaration(
                "binding '\(binding.exchange)' → '\(binding.queue)' (key '\(binding.routingKey)')", channel
            ) {
                _ = amqp_queue_bind(
                    state, channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                    arena.bytes(binding.routingKey), arena.table(binding.arguments))
            }
        }
    }

    /// Deletes queues (with their messages!) and exchanges on `channel`.
    func delete(queues: [String], exchanges: [String], channel: UInt16) throws {
        for queue in queues {
            let arena = CArena()
            try declaration("deletion of queue '\(queue)'", channel) {
                _ = amqp_queue_delete(state, channel, arena.bytes(queue), 0, 0)
            }
        }
        for exchange in exchanges {
            let arena = CArena()
            try declaration("deletion of exchange '\(exchange)'", channel) {
                _ = amqp_exchange_delete(state, channel, arena.bytes(exchange), 0)
            }
        }
    }

    private func declaration(_ what: String, _ channel: UInt16, _ call: () -> Void) throws {
        do {
            try rpc(channel, "declare \(what)", call)
        } catch let closed as ChannelClosed {
            try openChannel(channel)
            throw AMQPError.declarationFailed(what: what, code: closed.code, text: closed.text)
        }
    }

    /// Opens `channel`, sets the prefetch and starts consuming `queue` with manual acks.
    func startConsumer(channel: UInt16, queue: String, prefetch: UInt16) throws {
        try openChannel(channel)
        try rpc(channel, "basic.qos") { _ = amqp_basic_qos(state, channel, 0, prefetch, 0) }
        let arena = CArena()
        try rpc(channel, "basic.consume '\(queue)'") {
            _ = amqp_basic_consume(
                state, channel, arena.bytes(queue), arena.bytes(Self.consumerTag(channel)), 0, 0, 0,
                amqp_table_t(num_entries: 0, entries: nil))
        }
    }

    /// The consumer tag of the consumer on `channel` (one consumer per channel).
    static func consumerTag(_ channel: UInt16) -> String { "stadtbus.consumer.\(channel)" }

    /// Stops the broker sending deliveries to the consumer on `channel` (basic.cancel); the
    /// channel stays open, so deliveries already received can still be acked.
    func stopConsumer(channel: UInt16) throws {
        let arena = CArena()
        try rpc(channel, "basic.cancel") {
            _ = amqp_basic_cancel(state, channel, arena.bytes(Self.consumerTag(channel)))
        }
    }

    func closeChannel(_ channel: UInt16) {
        _ = amqp_channel_close(state, channel, Int32(AMQP_REPLY_SUCCESS))
    }

    func close() {
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
    }
}
