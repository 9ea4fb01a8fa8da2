import CRabbitMQ
import Foundation
import Logging

/// Publisher confirms: the publish window, acks/nacks and re-sending after a reconnect (owner thread only).
extension ConnectionCore {
    /// Moves all unconfirmed publishes to the front of the backlog, in their original order.
    func requeueOutstanding() {
        ownership.precondition()
        let unconfirmed = outstanding.sorted { $0.key < $1.key }.map(\.value)
        outstanding.removeAll()
        let rest = backlog[backlogHead...]
        backlog = unconfirmed + rest
        backlogHead = 0
        nextSeq = 1
        lowestUnconfirmed = 1
        for p in unconfirmed { p.returned = nil }
        if !unconfirmed.isEmpty {
            local.republished += unconfirmed.count
            logger.info("re-sending unconfirmed publishes", metadata: ["count": "\(unconfirmed.count)"])
        }
    }

    func sendBacklog(_ session: Session) throws {
        ownership.precondition()
        while backlogHead < backlog.count, outstanding.count < publishWindow {
            let p = backlog[backlogHead]
            let seq = nextSeq
            nextSeq += 1
            outstanding[seq] = p
            backlogHead += 1
            p.sentAt = .now
            let arena = CArena()
            var properties = p.message.properties.encode(into: arena)
            let status = p.message.body.withUnsafeBytes { raw in
                amqp_basic_publish(
                    session.state, Self.publishChannel, arena.bytes(p.exchange), arena.bytes(p.routingKey),
                    p.mandatory ? 1 : 0, 0, &properties,
                    amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
            }
            if status != AMQP_STATUS_OK.rawValue {
                guard Self.isEncodingFailure(status) else {
                    local.published += 1
                    throw AMQPError.connectionLost("publishing: \(Session.statusText(status))")
                }
                // rabbitmq-c could not encode this message (validation before submitting should have
                // caught it). It fails alone and for good; it must never be re-sent after a reconnect.
                outstanding[seq] = nil
                nextSeq = seq
                let reason =
                    "rabbitmq-c could not encode the publish to exchange '\(p.exchange)' with routing key "
                    + "'\(p.routingKey.prefix(80))': \(Session.statusText(status))"
                logger.error("publish refused locally; it fails permanently", metadata: ["error": "\(reason)"])
                p.finishNow(.failure(.invalidMessage(reason)))
                // The method frame may already be on the wire without its content: the channel cannot
                // be trusted any more, so reconnect; the other unconfirmed publishes are re-sent.
                throw AMQPError.connectionLost(
                    "publishing: a message could not be encoded (\(Session.statusText(status)))")
            }
            local.published += 1
        }
        if backlogHead > 4096, backlogHead * 2 > backlog.count {
            backlog.removeFirst(backlogHead)
            backlogHead = 0
        }
    }

    /// Statuses with which rabbitmq-c refuses a publish while encoding it, before or after writing
    /// its method frame: a property of the message, not the connection, is at fault.
    static func isEncodingFailure(_ status: Int32) -> Bool {
        let statuses = [
            AMQP_STATUS_BAD_AMQP_DATA, AMQP_STATUS_TABLE_TOO_BIG, AMQP_STATUS_INVALID_PARAMETER,
            AMQP_STATUS_UNKNOWN_CLASS, AMQP_STATUS_UNKNOWN_METHOD, AMQP_STATUS_UNSUPPORTED,
        ]
        return statuses.contains { $0.rawValue == status }
    }

    /// Settles the publishes a confirm (basic.ack / basic.nack, `multiple` or not) covers.
    func settlePublishes(upTo tag: UInt64, multiple: Bool, acked: Bool) {
        ownership.precondition()
        let now = ContinuousClock.now
        func settle(_ p: PendingPublish) {
            let latency = now - p.sentAt
            local.confirmLatencyTotal += latency
            local.lastConfirmLatency = latency
            if latency > local.maxConfirmLatency { local.maxConfirmLatency = latency }
            let result: Result<Void, AMQPError>
            if !acked {
                local.nacked += 1
                result = .failure(p.returned ?? .nackedByBroker(exchange: p.exchange, routingKey: p.routingKey))
            } else if let returned = p.returned {
                result = .failure(returned)
            } else {
                local.confirmed += 1
                result = .success(())
            }
            // A publish awaited alone resumes its task now; a batch once, at the end of the turn.
            if let batch = p.finish(result) { completedBatches.append(batch) }
        }
        if multiple {
            var seq = lowestUnconfirmed
            while seq <= tag {
                if let p = outstanding.removeValue(forKey: seq) { settle(p) }
                seq += 1
            }
        } else if let p = outstanding.removeValue(forKey: tag) {
            settle(p)
        }
        while lowestUnconfirmed < nextSeq, outstanding[lowestUnconfirmed] == nil { lowestUnconfirmed += 1 }
    }
}
