import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 address as bytes, so that `127.0.0.1`, `::ffff:127.0.0.1` and other
/// spellings of one address compare equal (for `trusted-proxies`).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 16 bytes; IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`).
    let bytes: [UInt8]
    public let description: String

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, trimmed, &v4) == 1 {
            bytes = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, trimmed, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        description = trimmed
    }

    /// `nil` when `text` is an IP address, else why not (for `stadtbus check`).
    @Sendable static func problem(_ text: String) -> String? {
        IPAddress(text) == nil
            ? "found '\(text)', which is not an IPv4 or IPv6 address (host names are not accepted)" : nil
    }

    public static func == (lhs: IPAddress, rhs: IPAddress) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
