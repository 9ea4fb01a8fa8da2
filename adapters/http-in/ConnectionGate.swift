import Logging
import Synchronization

/// Counts the open connections of one listener and refuses those beyond `max-connections`.
///
/// A refused connection is closed by the caller at once, before any request is read. Each one
/// is counted in `stadtbus_adapter_errors_total{adapter="http-in"}`; the log gets one line per
/// minute at most, with how many were refused since the last line.
final class ConnectionGate: Sendable {
    /// Refusals are logged at most this often.
    static let logInterval: Duration = .seconds(60)

    let limit: Int
    private let address: String
    private let logger: Logger
    private let countRefusal: @Sendable () -> Void
    private let state = Mutex(State())

    private struct State {
        var open = 0
        var refusedSinceLog = 0
        var lastLog: ContinuousClock.Instant?
    }

    /// - Parameter countRefusal: counts one refused connection in the metrics.
    init(limit: Int, address: String, logger: Logger, countRefusal: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.address = address
        self.logger = logger
        self.countRefusal = countRefusal
    }

    /// Takes a place for a new connection; `false` when the listener is full (then close it).
    /// Every `true` must be followed by one ``release()`` when the connection closes.
    func admit() -> Bool {
        let now = ContinuousClock.now
        let (admitted, toLog): (Bool, Int?) = state.withLock { state in
            if state.open < limit {
                state.open += 1
                return (true, nil)
            }
            state.refusedSinceLog += 1
            if let last = state.lastLog, now - last < Self.logInterval { return (false, nil) }
            state.lastLog = now
            defer { state.refusedSinceLog = 0 }
            return (false, state.refusedSinceLog)
        }
        if !admitted {
            countRefusal()
            if let toLog {
                logger.warning(
                    "http-in listener is at max-connections; new connections are closed at once",
                    metadata: ["listen": "\(address)", "max_connections": "\(limit)", "refused": "\(toLog)"])
            }
        }
        return admitted
    }

    /// Gives back the place of a closed connection.
    func release() {
        state.withLock { $0.open -= 1 }
    }

    /// Connections open now.
    var openConnections: Int { state.withLock { $0.open } }
}
