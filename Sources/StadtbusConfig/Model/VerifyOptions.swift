/// The settings of one `verify` step:
/// `verify: { allow-own-author: false, max-age: 7d, max-future: 5m }` (all optional).
public struct VerifyOptions: Sendable, Equatable {
    /// This authority's kennung (`identity.kennung`), if the configuration names one.
    public var ownKennung: String?
    /// `allow-own-author` (default `false`): accept messages whose header names this
    /// authority as author (our own messages reflected back are refused otherwise).
    public var allowOwnAuthor: Bool
    /// `max-age` (default 7 days): how old the header's creation time may be; `nil`
    /// (`max-age: off`) switches the freshness check off.
    public var maxAge: Duration?
    /// `max-future` (default 5 minutes): how far ahead of this clock the creation time may be.
    public var maxFuture: Duration

    /// The default freshness window (7 days).
    public static let defaultMaxAge: Duration = .seconds(7 * 86_400)
    /// The default clock-skew allowance (5 minutes).
    public static let defaultMaxFuture: Duration = .seconds(300)

    public init(
        ownKennung: String? = nil, allowOwnAuthor: Bool = false, maxAge: Duration? = VerifyOptions.defaultMaxAge,
        maxFuture: Duration = VerifyOptions.defaultMaxFuture
    ) {
        self.ownKennung = ownKennung
        self.allowOwnAuthor = allowOwnAuthor
        self.maxAge = maxAge
        self.maxFuture = maxFuture
    }
}
