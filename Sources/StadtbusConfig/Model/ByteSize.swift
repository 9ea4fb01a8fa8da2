import Foundation

/// Sizes such as `16MiB`, `512KiB`, `1MB` or a plain number of bytes.
public enum ByteSize {
    /// The units a size may end in, longest first.
    private static let units: [(suffix: String, factor: Int)] = [
        ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000),
        ("B", 1),
    ]
    /// The largest size accepted: what the XML parser can take, and more than any XÖV message needs.
    public static let maximum = 1 << 30

    /// The number of bytes `text` stands for, or `nil` when it is not a size from 1 byte to ``maximum``.
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = Substring(trimmed)
        var factor = 1
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            number = trimmed.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        guard let value = Int(number.trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: factor)
        guard !overflow, bytes <= maximum else { return nil }
        return bytes
    }

    /// `nil` when `text` is a size, else what is wrong with it (for `stadtbus check`).
    @Sendable public static func problem(_ text: String) -> String? {
        parse(text) == nil ? "found '\(text)'; write a size up to 1GiB like 16MiB, 512KiB or 1048576" : nil
    }
}
