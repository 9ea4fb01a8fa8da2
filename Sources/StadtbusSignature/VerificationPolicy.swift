public import Foundation
import StadtbusXML

/// What a ``SignatureVerifier`` demands of a message beyond a valid signature: that it is not
/// one of this authority's own messages reflected back, and that it is fresh.
///
/// The checks apply to ``SignatureVerifier/verify(_:header:)`` after the signature, chain and
/// identity checks passed (so a forged message is refused for its signature first).
/// `SignatureVerifier.verify(_:authorKennung:)` has no header and applies neither.
///
/// `VerificationPolicy()` checks nothing (signature only, as for verifying an archived
/// file by hand); the `verify` route step passes its settings (by default: own author
/// refused, `max-age` 7 days, `max-future` 5 minutes).
public struct VerificationPolicy: Sendable, Equatable {
    /// This authority's kennung (`identity.kennung`); a message whose header names it as
    /// author is refused with ``SignatureFailure/ownAuthor(_:)`` unless ``allowsOwnAuthor``.
    /// `nil`: no check.
    public var ownKennung: String?
    /// Whether messages authored by ``ownKennung`` are accepted.
    public var allowsOwnAuthor: Bool
    /// How old the header's creation time may be; `nil` switches the freshness window off
    /// (then creation times are not read at all).
    public var maxAge: Duration?
    /// How far in the future the creation time may lie (clock skew between authorities).
    public var maxFuture: Duration

    /// How far a creation time without time zone may be from UTC (XML Schema: ±14 hours);
    /// such a time is compared with that much tolerance in both directions.
    public static let unzonedTolerance: TimeInterval = 14 * 3_600

    public init(
        ownKennung: String? = nil, allowsOwnAuthor: Bool = false, maxAge: Duration? = nil, maxFuture: Duration = .zero
    ) {
        self.ownKennung = ownKennung
        self.allowsOwnAuthor = allowsOwnAuthor
        self.maxAge = maxAge
        self.maxFuture = maxFuture
    }

    /// Applies the policy to a message whose signature verified.
    /// - Throws: ``SignatureFailure/ownAuthor(_:)``, ``SignatureFailure/staleMessage(_:)``,
    ///   ``SignatureFailure/fromTheFuture(_:)``, ``SignatureFailure/noCreationTime(_:)``.
    func check(_ header: MessageHeader, author: String, now: Date) throws(SignatureFailure) {
        if !allowsOwnAuthor, let own = ownKennung, Self.sameKennung(own, author) {
            throw .ownAuthor(author)
        }
        guard let maxAge else { return }
        guard let text = header.createdAt?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            throw .noCreationTime(
                "the \(header.profile) header has no creation time; set 'max-age: off' on this route's verify step to accept such messages"
            )
        }
        guard let created = header.creationDate else {
            throw .noCreationTime("'\(Self.excerpt(text))' is not an xs:dateTime")
        }
        // A time without zone may be anywhere from UTC-14 to UTC+14 (XML Schema's order relation).
        let tolerance = Self.hasTimeZone(text) ? 0 : Self.unzonedTolerance
        let age = now.timeIntervalSince(created)
        if age - tolerance > Self.seconds(maxAge) {
            throw .staleMessage("created \(text), more than \(Self.describe(maxAge)) ago (max-age)")
        }
        if -age - tolerance > Self.seconds(maxFuture) {
            throw .fromTheFuture(
                "created \(text), more than \(Self.describe(maxFuture)) ahead of this clock (max-future)")
        }
    }

    static func sameKennung(_ a: String, _ b: String) -> Bool {
        a.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            == b.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func hasTimeZone(_ text: String) -> Bool {
        text.hasSuffix("Z") || text.range(of: #"[+-]\d{2}:\d{2}$"#, options: .regularExpression) != nil
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        TimeInterval(duration.components.seconds) + TimeInterval(duration.components.attoseconds) / 1e18
    }

    static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 86_400 == 0, seconds > 0 { return "\(seconds / 86_400)d" }
        if seconds % 3_600 == 0, seconds > 0 { return "\(seconds / 3_600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    /// At most 40 characters of a header value, for messages.
    private static func excerpt(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}
