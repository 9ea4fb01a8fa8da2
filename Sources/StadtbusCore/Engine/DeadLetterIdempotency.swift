import Foundation

/// Dead letters are idempotent like deliveries (the ack rule, shared/design/message-lifecycle.md):
/// once a message's dead letter is confirmed, the source records it; a broker *redelivery* of the
/// same input (the ack was lost, e.g. in a broker restart) is then acked as a duplicate instead of
/// being dead-lettered a second time.
///
/// The record is keyed by route (`""` before a route is known), message identity (the header's
/// message ID, else the transport message-id) and the input's attempt and replay stamp, so a
/// retry that fails later and a replayed dead letter (`stadtbus dlq replay`) are dead-lettered
/// again as they should be. Only redeliveries are checked: a fresh publish is never skipped.
extension RoutingEngine {
    /// The idempotency-store destination under which a dead letter of `message` is recorded.
    static func deadLetterKey(_ message: Message) -> String {
        var key = "dead-letter#attempt=\(message.attempt)"
        if let replayed = message.headers["x-stadtbus-replayed-at"] { key += ";replayed-at=\(replayed)" }
        return key
    }

    /// The identity a dead letter is recorded under: the header's message ID, else the
    /// transport message-id; `nil` if the message has neither (then nothing is deduplicated).
    static func deadLetterIdentity(headerMessageID: String?, message: Message) -> String? {
        let identity = headerMessageID ?? message.properties.messageID
        guard let identity, !identity.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return identity
    }

    /// Records that the dead letter of `message` (disposition `.deadLetter` with `route`) was
    /// published and confirmed. Call after the publish and before the ack.
    /// - Parameter headerMessageID: the header's message ID (``IntakeResult``'s), if it was read.
    public func recordDeadLettered(_ message: Message, headerMessageID: String?, route: String?) async throws {
        guard let identity = Self.deadLetterIdentity(headerMessageID: headerMessageID, message: message) else { return }
        try await idempotencyStore.recordDelivered(
            route: route ?? "", messageID: identity, destination: Self.deadLetterKey(message), at: Date())
    }

    /// Whether a redelivered `message` that would be dead-lettered again already was.
    func wasDeadLettered(_ message: Message, headerMessageID: String?, route: String?) -> Bool {
        guard message.redelivered,
            let identity = Self.deadLetterIdentity(headerMessageID: headerMessageID, message: message)
        else { return false }
        let recorded = try? idempotencyStore.wasDelivered(
            route: route ?? "", messageID: identity, destination: Self.deadLetterKey(message))
        return recorded ?? false
    }
}
