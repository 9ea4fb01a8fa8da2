import Foundation

/// Durations in configuration: an integer and a unit — `500ms`, `2s`, `5m`, `1h`, `14d`.
public enum DurationSyntax {
    /// Parses `text`, or returns `nil` when it is not a duration.
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (unit, milliseconds) in units where trimmed.hasSuffix(unit) {
            let number = trimmed.dropLast(unit.count)
            // "5ms" also ends in "s": only accept when the rest is all digits.
            guard !number.isEmpty, number.allSatisfy(\.isASCII), let value = Int64(number), value >= 0,
                value < 1_000_000_000
            else {
                continue
            }
            return .milliseconds(value * milliseconds)
        }
        return nil
    }

    /// Parses a range `MIN..MAX` (`2s..5m`); a single duration is a range of one value.
    public static func parseRange(_ text: String) -> (Duration, Duration)? {
        let parts = text.components(separatedBy: "..")
        switch parts.count {
        case 1: return parse(parts[0]).map { ($0, $0) }
        case 2:
            guard let low = parse(parts[0]), let high = parse(parts[1]), low <= high else { return nil }
            return (low, high)
        default: return nil
        }
    }
}
