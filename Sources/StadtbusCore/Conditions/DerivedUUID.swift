/// Name-based UUIDs: the same name always gives the same UUID, different names practically
/// never the same one.
///
/// RFC 9562 version 8 (vendor-defined) from a 128-bit FNV-1a hash of the UTF-8 name. Used for
/// messages Stadtbus composes from another message (a receipt, a status): a re-send after a
/// crash carries the same UUID, so the receiver recognises it, as XÖV asks.
public enum DerivedUUID {
    public static func make(from name: String) -> String {
        // FNV-1a, 128 bit: offset basis and prime from the FNV specification.
        var hash: (high: UInt64, low: UInt64) = (0x6c62_272e_07bb_0142, 0x62b8_2175_6295_c58d)
        for byte in name.utf8 {
            hash.low ^= UInt64(byte)
            hash = multiplyByPrime(hash)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: hash.high >> (56 - 8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: hash.low >> (56 - 8 * index))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10
        let hex = bytes.map { byte in String(byte, radix: 16).leftPadded(to: 2) }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// (high, low) × 2^88 + 0x13B, modulo 2^128.
    private static func multiplyByPrime(_ value: (high: UInt64, low: UInt64)) -> (high: UInt64, low: UInt64) {
        let small: UInt64 = 0x13B
        let lowProduct = value.low.multipliedFullWidth(by: small)
        var high = value.high &* small &+ lowProduct.high
        // 2^88 = 2^64 · 2^24: only the low word shifted by 24 reaches the high word.
        high = high &+ (value.low << 24)
        return (high, lowProduct.low)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
