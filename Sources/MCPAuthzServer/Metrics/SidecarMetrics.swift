import Metrics
import Prometheus
import Synchronization

/// The sidecar's own metrics, and the Prometheus registry `/metrics` reads.
///
/// Everything is registered in one registry owned here rather than a global bootstrap, so
/// tests run sidecars side by side. Token and JWKS metrics come from the token module through
/// the same factory.
package final class SidecarMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    package let factory: any MetricsFactory

    private struct DecisionKey: Hashable {
        var server: String
        var allowed: Bool
        var reason: String
    }

    /// Counters by label set, made once: looking one up in the registry per request would take
    /// its lock and build its label string each time.
    private let decisionCounters = Mutex<[DecisionKey: Metrics.Counter]>([:])
    private let shadowCounters = Mutex<[DecisionKey: Metrics.Counter]>([:])
    private let limitCounters = Mutex<[DecisionKey: Metrics.Counter]>([:])
    private let decisionDuration: Metrics.Timer
    private let reloadSuccesses: Metrics.Counter
    private let reloadFailures: Metrics.Counter
    private let policyLoadedTime: Metrics.Gauge
    /// Forward-auth answers written on the event loop by the fast path (the rest went through
    /// Hummingbird): how much of the traffic the fast path takes, and which path answered.
    package let fastPathAnswers: Metrics.Counter
    /// Times the listening socket could not accept (out of file descriptors), each followed by
    /// a pause before accepting again.
    package let acceptFailures: Metrics.Counter
    /// Keys of the limits' state dropped, least recently used first, to stay within
    /// `--max-limit-keys`.
    package let limitKeysDropped: Metrics.Counter

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["mcp_authz_decision_duration_seconds"] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(5),
        ]
        self.factory = factory
        decisionDuration = Metrics.Timer(label: "mcp_authz_decision_duration_seconds", factory: factory)
        reloadSuccesses = Metrics.Counter(label: "mcp_authz_policy_reloads_total", dimensions: [("result", "success")], factory: factory)
        reloadFailures = Metrics.Counter(label: "mcp_authz_policy_reloads_total", dimensions: [("result", "failure")], factory: factory)
        policyLoadedTime = Metrics.Gauge(label: "mcp_authz_policy_last_load_timestamp_seconds", factory: factory)
        fastPathAnswers = Metrics.Counter(label: "mcp_authz_forward_auth_fast_path_answers_total", factory: factory)
        acceptFailures = Metrics.Counter(label: "mcp_authz_accept_failures_total", factory: factory)
        limitKeysDropped = Metrics.Counter(label: "mcp_authz_limit_keys_dropped_total", factory: factory)
    }

    /// One decision: counted by server, answer and reason, and timed.
    package func recordDecision(server: String?, allowed: Bool, reason: String, duration: Duration) {
        let key = DecisionKey(server: server ?? "", allowed: allowed, reason: reason)
        let counter = decisionCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Metrics.Counter(
                label: "mcp_authz_decisions_total",
                dimensions: [("server", key.server), ("decision", allowed ? "allow" : "deny"), ("reason", reason)],
                factory: factory
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
        decisionDuration.recordInterval(duration)
    }

    /// One shadow verdict, by server and by how it compares with the answer given.
    package func recordShadow(server: String, agreement: String) {
        count(in: shadowCounters, "mcp_authz_shadow_decisions_total", ("server", server), ("agreement", agreement))
    }

    /// A request the rules allowed, refused by a limit.
    package func recordRateLimited(server: String, limit: String) {
        count(in: limitCounters, "mcp_authz_rate_limited_total", ("server", server), ("limit", limit))
    }

    /// Increments the counter of a label pair, made on first use.
    private func count(in counters: borrowing Mutex<[DecisionKey: Metrics.Counter]>, _ label: String, _ a: (String, String), _ b: (String, String)) {
        let key = DecisionKey(server: a.1, allowed: false, reason: b.1)
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Metrics.Counter(label: label, dimensions: [a, b], factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    package func recordReload(success: Bool, at seconds: Double) {
        if success {
            reloadSuccesses.increment()
            policyLoadedTime.record(seconds)
        } else {
            reloadFailures.increment()
        }
    }

    /// The Prometheus text exposition of every metric.
    package func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

extension Metrics.Timer {
    fileprivate func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
