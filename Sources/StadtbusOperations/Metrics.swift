import Foundation
import Metrics
import Prometheus
import Synchronization

/// The metrics Stadtbus exports, named and labelled in one place.
///
/// Labels are bounded: route names, step names, adapter names and outcome words come from
/// the configuration, never from messages — no UUIDs, authorities or content in labels.
/// Handles are created once per label set and cached, so recording is a dictionary lookup
/// and an atomic add.
public final class StadtbusMetrics: Sendable {
    /// The Prometheus registry behind `/metrics`.
    public let registry: PrometheusCollectorRegistry
    /// Metric handles by name and labels, made once each.
    private struct Handles {
        var counters: [String: Metrics.Counter] = [:]
        var timers: [String: Metrics.Timer] = [:]
        var gauges: [String: Metrics.Gauge] = [:]
    }
    private let handles = Mutex(Handles())
    private let factory: PrometheusMetricsFactory

    /// Creates the metrics on a fresh registry. Call ``bootstrap()`` once per process to make
    /// swift-metrics (and so every library using it) report into this registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Message processing is milliseconds; broker confirms are sub-millisecond to seconds.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    /// Makes this instance's registry the process-wide swift-metrics backend.
    public func bootstrap() {
        MetricsSystem.bootstrap(factory)
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String {
        registry.emitToString()
    }

    // MARK: Message flow per route

    /// The outcomes a route counts.
    public enum Outcome: String, Sendable, CaseIterable {
        case received, delivered, retried
        case deadLettered = "dead_lettered"
        case filtered
        case duplicate
    }

    /// Counts one message with `outcome` on `route`.
    public func count(_ outcome: Outcome, route: String, by amount: Int = 1) {
        counter("stadtbus_messages_\(outcome.rawValue)_total", [("route", route)]).increment(by: amount)
    }

    /// Records how long `step` of `route` took.
    public func recordStep(route: String, step: String, duration: Duration) {
        timer("stadtbus_step_duration_seconds", [("route", route), ("step", step)]).record(duration: duration)
    }

    /// Records the end-to-end time from receipt to ack.
    public func recordEndToEnd(route: String, duration: Duration) {
        timer("stadtbus_end_to_end_duration_seconds", [("route", route)]).record(duration: duration)
    }

    /// Messages being processed right now.
    public func setInFlight(_ value: Int) {
        gauge("stadtbus_in_flight_messages", []).record(value)
    }

    // MARK: Infrastructure

    /// Counts a reconnect of the broker connection `broker` (a configured name).
    public func countReconnect(broker: String) {
        counter("stadtbus_broker_reconnects_total", [("broker", broker)]).increment()
    }

    /// Records how long the broker took to confirm a publish.
    public func recordPublishConfirm(broker: String, duration: Duration) {
        timer("stadtbus_publish_confirm_duration_seconds", [("broker", broker)]).record(duration: duration)
    }

    /// Counts a configuration reload, successful or not.
    public func countReload(succeeded: Bool) {
        counter("stadtbus_config_reloads_total", [("result", succeeded ? "ok" : "failed")]).increment()
    }

    /// Counts an error reported by `adapter` (an adapter type or configured adapter name).
    public func countAdapterError(adapter: String) {
        counter("stadtbus_adapter_errors_total", [("adapter", adapter)]).increment()
    }

    /// 1 while ready, 0 while not (mirrors `/ready`).
    public func setReady(_ ready: Bool) {
        gauge("stadtbus_ready", []).record(ready ? 1 : 0)
    }

    // MARK: Handle cache

    private func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "|" + $1.0 + "=" + $1.1 }
    }

    private func counter(_ name: String, _ labels: [(String, String)]) -> Metrics.Counter {
        let key = key(name, labels)
        return handles.withLock { handles in
            if let counter = handles.counters[key] { return counter }
            let counter = Metrics.Counter(label: name, dimensions: labels, factory: factory)
            handles.counters[key] = counter
            return counter
        }
    }

    private func timer(_ name: String, _ labels: [(String, String)]) -> Metrics.Timer {
        let key = key(name, labels)
        return handles.withLock { handles in
            if let timer = handles.timers[key] { return timer }
            let timer = Metrics.Timer(
                label: name, dimensions: labels, preferredDisplayUnit: .seconds, factory: factory)
            handles.timers[key] = timer
            return timer
        }
    }

    private func gauge(_ name: String, _ labels: [(String, String)]) -> Metrics.Gauge {
        let key = key(name, labels)
        return handles.withLock { handles in
            if let gauge = handles.gauges[key] { return gauge }
            let gauge = Metrics.Gauge(label: name, dimensions: labels, factory: factory)
            handles.gauges[key] = gauge
            return gauge
        }
    }
}
