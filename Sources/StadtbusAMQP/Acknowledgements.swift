import CRabbitMQ
import Foundation
import Logging

/// Consumer settlements (owner thread only): acks are recorded per delivery tag and sent once per
/// turn of the loop as one cumulative ack per channel (see ``AckTracker``); nacks and rejects are sent
/// at once, one by one.
extension ConnectionCore {
    /// Records or sends one settlement of a delivery of the current channel incarnation; a settlement of
    /// a delivery from an earlier incarnation, or a second one of the same delivery, is dropped.
    func settle(_ token: DeliveryToken, _ settlement: Settlement, _ session: Session) throws {
        ownership.precondition()
        guard var tracker = ackTrackers[token.channel], tracker.epoch == token.epoch else {
            logger.debug("dropping settlement of a stale delivery", metadata: ["tag": "\(token.tag)"])
            return
        }
        defer { ackTrackers[token.channel] = tracker }
        switch settlement {
        case .ack:
            guard tracker.complete(token.tag) else { return droppedTwice(token) }
            unflushedChannels.insert(token.channel)
        case .nack(let requeue), .reject(let requeue):
            guard tracker.settleIndividually(token.tag) else { return droppedTwice(token) }
            let status: Int32
            if case .nack = settlement {
                status = amqp_basic_nack(session.state, token.channel, token.tag, 0, requeue ? 1 : 0)
            } else {
                status = amqp_basic_reject(session.state, token.channel, token.tag, requeue ? 1 : 0)
            }
            if status != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionLost("sending nack: \(Session.statusText(status))")
            }
            local.deliveriesRejected += 1
            // A cumulative ack may now reach over this delivery.
            unflushedChannels.insert(token.channel)
        }
    }

    private func droppedTwice(_ token: DeliveryToken) {
        logger.warning(
            "a delivery was settled twice; the second settlement is dropped",
            metadata: ["channel": "\(token.channel)", "tag": "\(token.tag)"])
    }

    /// Sends the acks the settlements of this turn made possible.
    func flushAcks(_ session: Session) throws {
        ownership.precondition()
        guard !unflushedChannels.isEmpty else { return }
        let channels = unflushedChannels
        unflushedChannels.removeAll(keepingCapacity: true)
        for channel in channels { try flushAcks(session, channel: channel, everything: false) }
    }

    /// Sends the acks due on `channel`; `everything` also acks completed deliveries behind a gap
    /// (before the channel or the connection closes).
    func flushAcks(_ session: Session, channel: UInt16, everything: Bool) throws {
        ownership.precondition()
        guard var tracker = ackTrackers[channel] else { return }
        let flush = tracker.flush(everything: everything)
        ackTrackers[channel] = tracker
        if flush.isEmpty { return }
        if let tag = flush.cumulative {
            try sendAck(session, channel: channel, tag: tag, multiple: true)
        }
        for tag in flush.individual {
            try sendAck(session, channel: channel, tag: tag, multiple: false)
        }
        local.deliveriesAcked += flush.coveredByCumulative + flush.individual.count
    }

    private func sendAck(_ session: Session, channel: UInt16, tag: UInt64, multiple: Bool) throws {
        let status = amqp_basic_ack(session.state, channel, tag, multiple ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue {
            throw AMQPError.connectionLost("sending ack: \(Session.statusText(status))")
        }
        local.ackFrames += 1
    }

    /// Resumes `flush()` callers: what they waited for was sent, or can no longer be sent.
    func resumeFlushWaiters() {
        guard !flushWaiters.isEmpty else { return }
        publishStats()  // what a waiter reads next includes what was just sent
        let waiters = flushWaiters
        flushWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }
}
