import Foundation

/// Remembers open cases, so that an answer arriving later (an eAkte acknowledgement, a
/// payment confirmation) can be correlated with the message that opened the case — the
/// municipal "Vorgangszuordnung".
///
/// The engine writes registrations collected by `register-case` steps only after every
/// delivery of the route succeeded and before the message is acked, like idempotency
/// records (see `shared/design/message-lifecycle.md`); `correlate` steps read it.
/// Implementations must be safe to call from several worker tasks at once.
public protocol CaseRegistry: Sendable {
    /// Registers `record` under `key` (an upsert: registering a key again replaces route and
    /// attributes and keeps the first ``CaseRecord/registeredAt``, so a retry is harmless).
    func register(key: String, case record: CaseRecord) throws
    /// The case registered under `key`, if any.
    func lookup(key: String) throws -> CaseRecord?
    /// Forgets cases registered before `date` (retention). Returns how many went.
    @discardableResult
    func purge(olderThan date: Date) throws -> Int
}
