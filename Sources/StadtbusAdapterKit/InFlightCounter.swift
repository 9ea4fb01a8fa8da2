import StadtbusOperations
import Synchronization

/// Counts messages in flight across all sources (for the in-flight gauge and draining).
public final class InFlightCounter: Sendable {
    private let count = Mutex(0)

    public init() {}

    /// Adds `delta` (±1 per message) and sets the gauge to the new value.
    public func add(_ delta: Int, metrics: StadtbusMetrics) {
        let value = count.withLock {
            $0 += delta
            return $0
        }
        metrics.setInFlight(value)
    }

    /// The messages in flight right now.
    public var value: Int { count.withLock { $0 } }
}
