import Foundation

/// How many messages each scenario sends: `STADTBUS_CHAOS_COUNT` (scripts/chaos sets it), else
/// a default small enough for CI on two cores.
enum ChaosCount {
    static let defaultCount = 200

    static var value: Int {
        ProcessInfo.processInfo.environment["STADTBUS_CHAOS_COUNT"].flatMap { Int($0) }.map { max($0, 10) }
            ?? defaultCount
    }
}

/// The figures of one scenario run, printed as one line `chaos-figure: scenario N delivered
/// duplicates dead-letters seconds` (scripts/chaos collects these lines).
struct ScenarioFigures {
    let scenario: String
    let sent: Int
    let delivered: Int
    let duplicates: Int
    let deadLetters: Int
    let seconds: Double

    var line: String {
        "chaos-figure: \(scenario) \(sent) \(delivered) \(duplicates) \(deadLetters) \(String(format: "%.1f", seconds))"
    }

    func print() {
        Swift.print(line)
        fflush(nil)  // all output streams
    }
}
