import Foundation
import Metrics
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics: swift-metrics gauges and counters backed by a swift-prometheus registry.
/// Values are pulled from the running parts when `/metrics` is scraped (``update(_:)``), so the training thread
/// never pays for metrics. Counters follow the daemon's monotonic totals (a total that goes down, e.g. a source
/// that was removed and added again, starts counting anew from there).
public final class DaemonMetrics: Sendable {
    /// The registry `/metrics` exposes (also bootstrapped as swift-metrics' global backend by `conceptd`, so
    /// Hummingbird's request metrics land here too).
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over ``registry``.
    public let factory: PrometheusMetricsFactory
    private struct Instruments {
        var gauges: [String: Metrics.Gauge] = [:]
        var counters: [String: (counter: Metrics.Counter, last: Int)] = [:]
    }
    private let instruments = Mutex(Instruments())

    /// Metrics in `registry`.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        factory = PrometheusMetricsFactory(registry: registry)
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Sets gauge `name{labels}` to `value`.
    public func gauge(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        let k = Self.key(name, labels)
        instruments.withLock { m in
            let g = m.gauges[k] ?? Metrics.Gauge(label: name, dimensions: labels, factory: factory)
            m.gauges[k] = g
            g.record(value.isFinite ? value : .nan)
        }
    }

    /// Moves counter `name{labels}` up to the monotonic `total`.
    public func counter(_ name: String, _ labels: [(String, String)] = [], total: Int) {
        let k = Self.key(name, labels)
        instruments.withLock { m in
            var entry = m.counters[k] ?? (Metrics.Counter(label: name, dimensions: labels, factory: factory), 0)
            let delta = total >= entry.last ? total - entry.last : total
            if delta > 0 { entry.counter.increment(by: Int64(delta)) }
            entry.last = total
            m.counters[k] = entry
        }
    }

    /// The text exposition (Prometheus format 0.0.4).
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// Resident set size of this process in bytes (from `/proc/self/statm`), 0 where unavailable.
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
