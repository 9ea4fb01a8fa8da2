import Foundation
import Synchronization

/// Tracks whether Stadtbus is ready to do its work: every broker connection up and the
/// routes loaded. `/ready` answers from it.
///
/// Components report conditions by name (e.g. `broker:main`, `routes`); Stadtbus is ready
/// when every registered condition holds.
public final class Readiness: Sendable {
    /// A snapshot for `/ready`.
    public struct Report: Equatable, Sendable, Codable {
        public var ready: Bool
        /// Why not ready: one entry per failing condition, e.g. `"broker:main: connection refused"`.
        public var reasons: [String]
        /// Every condition and whether it holds.
        public var conditions: [String: Bool]
    }

    private struct State {
        var conditions: [String: (ok: Bool, reason: String?)] = [:]
        var observers: [@Sendable (Bool) -> Void] = []
    }
    private let state = Mutex(State())

    public init() {}

    /// Registers `name` as not yet satisfied (e.g. before the first connection attempt).
    public func expect(_ name: String, reason: String = "starting") {
        update(name, ok: false, reason: reason)
    }

    /// Marks `name` satisfied.
    public func satisfy(_ name: String) {
        update(name, ok: true, reason: nil)
    }

    /// Marks `name` failing with a human-readable `reason`.
    public func fail(_ name: String, reason: String) {
        update(name, ok: false, reason: reason)
    }

    /// Forgets `name` (e.g. a broker connection removed by a reload).
    public func remove(_ name: String) {
        state.withLock { _ = $0.conditions.removeValue(forKey: name) }
        notify()
    }

    /// Calls `observer` with the overall state after every change.
    public func observe(_ observer: @escaping @Sendable (Bool) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    /// The current state.
    public var report: Report {
        let conditions = state.withLock { $0.conditions }
        let failing = conditions.filter { !$0.value.ok }.sorted { $0.key < $1.key }
        return Report(
            ready: !conditions.isEmpty && failing.isEmpty,
            reasons: conditions.isEmpty
                ? ["nothing started yet"] : failing.map { "\($0.key): \($0.value.reason ?? "not ready")" },
            conditions: conditions.mapValues(\.ok))
    }

    private func update(_ name: String, ok: Bool, reason: String?) {
        let previous = state.withLock { state in
            defer { state.conditions[name] = (ok, reason) }
            return state.conditions[name]
        }
        if previous?.ok != ok || previous?.reason != reason { notify() }
    }

    private func notify() {
        let ready = report.ready
        let observers = state.withLock { $0.observers }
        for observer in observers { observer(ready) }
    }
}
