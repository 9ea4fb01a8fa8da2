import CRabbitMQ
import Foundation
import Logging

/// Incoming frames: confirms, returns, deliveries (content assembly), channel and connection closes
/// (owner thread only).
extension ConnectionCore {
    /// Reads the frames available now (at most 4096), then resumes the publish batches their confirms
    /// completed, each once.
    func readFrames(_ session: Session) throws {
        ownership.precondition()
        defer { resumeCompletedBatches() }
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        for _ in 0..<4096 {
            let status = amqp_simple_wait_frame_noblock(session.state, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionLost(Session.statusText(status))
            }
            try handle(frame, session)
            amqp_maybe_release_buffers_on_channel(session.state, frame.channel)
        }
    }

    func resumeCompletedBatches() {
        guard !completedBatches.isEmpty else { return }
        let batches = completedBatches
        completedBatches.removeAll(keepingCapacity: true)
        for batch in batches { batch.resume() }
    }

    func handle(_ frame: amqp_frame_t, _ session: Session) throws {
        ownership.precondition()
        let channel = frame.channel
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            let method = frame.payload.method
            guard let decoded = method.decoded else { return }
            switch method.id {
            case MethodID.basicAck where channel == Self.publishChannel:
                let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                settlePublishes(upTo: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
            case MethodID.basicNack where channel == Self.publishChannel:
                let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                settlePublishes(upTo: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
            case MethodID.basicReturn:
                let m = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
                assemblies[channel] = Assembly(
                    kind: .returned(code: Int(m.reply_code), text: FieldTableDecoder.string(m.reply_text)),
                    exchange: FieldTableDecoder.string(m.exchange), routingKey: FieldTableDecoder.string(m.routing_key))
            case MethodID.basicDeliver:
                let m = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
                assemblies[channel] = Assembly(
                    kind: .deliver(tag: m.delivery_tag, redelivered: m.redelivered != 0),
                    exchange: FieldTableDecoder.string(m.exchange), routingKey: FieldTableDecoder.string(m.routing_key))
            case MethodID.channelClose:
                let m = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                session.sendChannelCloseOK(channel)
                try channelClosed(
                    channel, code: Int(m.reply_code), text: FieldTableDecoder.string(m.reply_text), session)
            case MethodID.connectionClose:
                let m = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                session.sendConnectionCloseOK()
                throw AMQPError.connectionLost(
                    "broker closed the connection: \(m.reply_code) \(FieldTableDecoder.string(m.reply_text))")
            case MethodID.basicCancel:
                if let registration = consumers[channel] {
                    registration.active = false
                    ackTrackers[channel] = nil
                    unflushedChannels.remove(channel)
                    setEpoch(channel, nil)
                    logger.error(
                        "broker cancelled the consumer (queue deleted?)", metadata: ["queue": "\(registration.queue)"])
                    emit(.consumerCancelled(queue: registration.queue))
                    session.closeChannel(channel)
                    nextConsumerRetry = .now + .seconds(5)
                }
            case MethodID.connectionBlocked:
                let m = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
                emit(.blocked(reason: FieldTableDecoder.string(m.reason)))
            case MethodID.connectionUnblocked:
                emit(.unblocked)
            default:
                break
            }
        case AMQP_FRAME_HEADER:
            guard var assembly = assemblies[channel] else { return }
            let header = frame.payload.properties
            if let decoded = header.decoded {
                assembly.properties = AMQPMessageProperties(
                    decoding: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            assembly.bodySize = Int(header.body_size)
            assembly.body.reserveCapacity(assembly.bodySize)
            if assembly.bodySize == 0 {
                assemblies[channel] = nil
                complete(assembly, channel: channel)
            } else {
                assemblies[channel] = assembly
            }
        case AMQP_FRAME_BODY:
            guard assemblies[channel] != nil else { return }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let bytes = fragment.bytes {
                assemblies[channel]?.body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
            }
            if let assembly = assemblies[channel], assembly.body.count >= assembly.bodySize {
                assemblies[channel] = nil
                complete(assembly, channel: channel)
            }
        default:
            break
        }
    }

    func complete(_ assembly: Assembly, channel: UInt16) {
        ownership.precondition()
        switch assembly.kind {
        case .deliver(let tag, let redelivered):
            // The tracker of the channel's current incarnation carries its epoch (no lock on this path).
            guard let registration = consumers[channel], let epoch = ackTrackers[channel]?.epoch else {
                return
            }
            local.delivered += 1
            registration.continuation.yield(
                AMQPDelivery(
                    body: assembly.body, properties: assembly.properties, redelivered: redelivered,
                    exchange: assembly.exchange, routingKey: assembly.routingKey, queue: registration.queue,
                    token: DeliveryToken(channel: channel, epoch: epoch, tag: tag), core: self))
        case .returned(let code, let text):
            // A return precedes the confirm of its publish; find that publish among the unconfirmed ones.
            local.returned += 1
            var seq = lowestUnconfirmed
            while seq < nextSeq {
                if let p = outstanding[seq], p.returned == nil, p.exchange == assembly.exchange,
                    p.routingKey == assembly.routingKey,
                    p.message.properties.messageID == assembly.properties.messageID,
                    p.message.body == assembly.body
                {
                    p.returned = .unroutable(
                        exchange: p.exchange, routingKey: p.routingKey, replyCode: code, replyText: text)
                    return
                }
                seq += 1
            }
            logger.warning(
                "basic.return for an unknown publish",
                metadata: ["exchange": "\(assembly.exchange)", "routingKey": "\(assembly.routingKey)"])
        }
    }

    func channelClosed(_ channel: UInt16, code: Int, text: String, _ session: Session) throws {
        ownership.precondition()
        local.channelsClosedByBroker += 1
        logger.error(
            "broker closed channel", metadata: ["channel": "\(channel)", "code": "\(code)", "text": "\(text)"])
        assemblies[channel] = nil
        if channel == Self.publishChannel {
            // The publish that caused it (typically 404 "no exchange 'x'") fails; the others are re-sent.
            let unconfirmed = outstanding.values
            let culprits = unconfirmed.filter { text.contains("'\($0.exchange)'") }
            for p in (culprits.isEmpty ? Array(unconfirmed) : culprits) {
                outstanding.removeValue(forKey: outstanding.first { $0.value === p }?.key ?? 0)
                p.finishNow(.failure(.channelClosed(code: code, text: text)))
            }
            requeueOutstanding()
            try session.openConfirmChannel(channel)
        } else if channel == Self.controlChannel {
            try session.openChannel(channel)
        } else if let registration = consumers[channel] {
            // Its unsent acks are void with the channel; the broker redelivers those deliveries.
            ackTrackers[channel] = nil
            unflushedChannels.remove(channel)
            setEpoch(channel, nil)
            resumeConsumer(registration, session)
        }
    }
}
