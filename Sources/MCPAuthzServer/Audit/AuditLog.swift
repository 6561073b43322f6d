import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How the audit log is written.
package struct AuditSettings: Sendable {
    /// Files and/or stdout; empty turns the audit log off.
    package var destinations: [AuditDestination] = [.standardOutput]
    /// When a record cannot be written: deny every request until it can (true, the default:
    /// an unaudited allow is what security teams fear), or keep deciding.
    package var failClosed = true
    /// Records held for the writer; requests wait (backpressure) when it is full.
    package var bufferCapacity = 65_536
    /// Reopen files on SIGUSR1; only one audit log per process may.
    package var trapsSIGUSR1 = true
    /// At shutdown, how long failing writes are retried before the rest is given up (logged).
    package var shutdownRetry: Duration = .seconds(5)
    /// After the writer wakes for a few records, how long it lets more gather before writing:
    /// one write per few milliseconds instead of one per request, far inside the 100 ms bound
    /// within which a record must reach the file.
    package var gatherDelay: Duration = .milliseconds(2)

    package init() {}
}

/// The audit log: every decision and every policy and key event, as chained JSON lines.
///
/// Requests hand records to a bounded queue and go on; one task (this service's `run`) turns
/// them into lines and writes whatever is pending in one `write(2)` per destination, so lines
/// reach the file within one write's time of being decided, and nothing is lost on shutdown:
/// the service stops after the HTTP server, and drains the queue first. When a write fails the
/// log turns unhealthy (log line, metric, readiness), keeps the unwritten lines and retries;
/// requests then either are denied (`failClosed`) or go on, and records beyond the buffer are
/// counted as dropped and noted in the log once writing works again.
package final class AuditLog: Service, Sendable {
    private let queue: AuditQueue
    private let sinks: [UncheckedSink]
    private let initialPrevious: String
    package let settings: AuditSettings
    private let logger: Logger
    private let healthy = Atomic(true)
    private let droppedSinceFailure = Atomic(0)
    private let written: Metrics.Counter
    private let failures: Metrics.Counter
    private let droppedCounter: Metrics.Counter
    private let healthGauge: Metrics.Gauge

    /// Opens every destination now, so a path that cannot be written stops start-up.
    package init(settings: AuditSettings, logger: Logger, metrics: any MetricsFactory) throws(AuditSinkError) {
        self.settings = settings
        self.logger = logger
        queue = AuditQueue(capacity: settings.bufferCapacity)
        var sinks: [UncheckedSink] = []
        var previous = AuditLine.genesis
        for destination in settings.destinations {
            if case let .file(path) = destination {
                let (last, torn) = AuditSink.lastHash(ofFile: path)
                if let last, previous == AuditLine.genesis { previous = last }
                if torn { logger.warning("audit file ends with an incomplete line", metadata: ["audit.file": "\(path)"]) }
            }
            sinks.append(UncheckedSink(try AuditSink(destination)))
        }
        self.sinks = sinks
        initialPrevious = previous
        written = Metrics.Counter(label: "mcp_authz_audit_records_total", factory: metrics)
        failures = Metrics.Counter(label: "mcp_authz_audit_write_failures_total", factory: metrics)
        droppedCounter = Metrics.Counter(label: "mcp_authz_audit_records_dropped_total", factory: metrics)
        healthGauge = Metrics.Gauge(label: "mcp_authz_audit_healthy", factory: metrics)
        healthGauge.record(1)
        queue.offer(
            .entry(
                AuditEntry(
                    time: Date().timeIntervalSince1970,
                    .event(
                        EventRecord(
                            "audit_start",
                            [
                                ("pid", .int(Int(ProcessInfo.processInfo.processIdentifier))),
                                ("destinations", .string(settings.destinations.map(\.description).joined(separator: " "))),
                            ]
                        )
                    )
                )
            ),
            force: true
        )
    }

    /// Whether records are being written.
    package var isHealthy: Bool { healthy.load(ordering: .relaxed) }

    /// Whether a request may be allowed now: always when the log writes, and otherwise only
    /// if configured to keep deciding.
    package var permitsAllow: Bool { isHealthy || !settings.failClosed }

    /// Records a decision: waits for room while the log is healthy; while it is not, a record
    /// that does not fit is dropped and counted.
    package func record(_ entry: AuditEntry) async {
        let queued = await queue.push(.entry(entry)) { self.isHealthy }
        if !queued {
            droppedSinceFailure.add(1, ordering: .relaxed)
            droppedCounter.increment()
        }
    }

    /// Records a decision if there is room now; false when the caller must `record` (and wait).
    package func recordNow(_ entry: AuditEntry) -> Bool {
        queue.offer(.entry(entry))
    }

    /// Records an event (policy load, key refresh) without waiting: they are few.
    package func event(_ record: EventRecord) {
        queue.offer(.entry(AuditEntry(time: Date().timeIntervalSince1970, .event(record))), force: true)
    }

    /// Reopens the files after the records already queued (SIGUSR1).
    package func reopen() {
        queue.offer(.reopen, force: true)
    }

    package func run() async {
        await withDiscardingTaskGroup { group in
            if settings.trapsSIGUSR1 {
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sigusr1).cancelOnGracefulShutdown() { self.reopen() }
                }
            }
            await withGracefulShutdownHandler {
                await self.writeUntilClosed()
            } onGracefulShutdown: {
                self.queue.close()
            }
            group.cancelAll()
        }
    }

    /// Takes whatever is queued, writes it as one block, until the queue is closed and empty.
    private func writeUntilClosed() async {
        var previous = initialPrevious
        var block: [UInt8] = []
        var giveUpAt: ContinuousClock.Instant?
        while var items = await queue.next() {
            if items.count < 256, !queue.isClosed, settings.gatherDelay > .zero {
                try? await Task.sleep(for: settings.gatherDelay)
                items += queue.takePending()
            }
            block.removeAll(keepingCapacity: true)
            var count = 0
            for item in items {
                switch item {
                case let .entry(entry):
                    append(entry, to: &block, previous: &previous)
                    count += 1
                case .reopen:
                    await write(block, records: count, giveUpAt: &giveUpAt)
                    block.removeAll(keepingCapacity: true)
                    count = 0
                    reopenFiles()
                    append(AuditEntry(time: Date().timeIntervalSince1970, .event(EventRecord("audit_reopen"))), to: &block, previous: &previous)
                    count += 1
                }
            }
            await write(block, records: count, giveUpAt: &giveUpAt)
        }
        block.removeAll()
        append(AuditEntry(time: Date().timeIntervalSince1970, .event(EventRecord("audit_stop"))), to: &block, previous: &previous)
        await write(block, records: 1, giveUpAt: &giveUpAt)
        for sink in sinks { sink.sink.sync() }
    }

    private func append(_ entry: AuditEntry, to block: inout [UInt8], previous: inout String) {
        previous = AuditLine.append(entry, previous: previous, to: &block)
    }

    /// Writes a block to every destination, retrying while it fails. Gives up only when
    /// shutting down and writes have failed for `shutdownRetry`.
    private func write(_ block: [UInt8], records: Int, giveUpAt: inout ContinuousClock.Instant?) async {
        guard !block.isEmpty else { return }
        for sink in sinks {
            var bytes = block
            while true {
                do throws(AuditSinkError) {
                    try sink.sink.write(bytes)
                    break
                } catch {
                    bytes = []
                    failures.increment()
                    becomeUnhealthy(error)
                    if queue.isClosed {
                        let deadline = giveUpAt ?? ContinuousClock.now.advanced(by: settings.shutdownRetry)
                        giveUpAt = deadline
                        if ContinuousClock.now >= deadline {
                            logger.critical(
                                "audit records could not be written before exit",
                                metadata: ["audit.error": "\(error.message)", "audit.destination": "\(sink.sink.destination)"]
                            )
                            return
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        written.increment(by: records)
        if !isHealthy { becomeHealthy() }
    }

    private func reopenFiles() {
        for sink in sinks {
            do throws(AuditSinkError) {
                try sink.sink.reopen()
            } catch {
                failures.increment()
                becomeUnhealthy(error)
            }
        }
    }

    private func becomeUnhealthy(_ error: AuditSinkError) {
        guard healthy.exchange(false, ordering: .relaxed) else { return }
        healthGauge.record(0)
        logger.critical(
            "audit log cannot be written; \(settings.failClosed ? "denying every request" : "still deciding (keep-deciding mode)") until it can",
            metadata: ["audit.error": "\(error.message)"]
        )
        // Requests waiting for room stop waiting: their records are dropped and counted.
        queue.wakeProducers()
    }

    private func becomeHealthy() {
        healthy.store(true, ordering: .relaxed)
        healthGauge.record(1)
        let dropped = droppedSinceFailure.exchange(0, ordering: .relaxed)
        logger.warning("audit log writes again", metadata: ["audit.dropped": "\(dropped)"])
        if dropped > 0 { event(EventRecord("audit_gap", [("dropped", .int(dropped))])) }
    }
}

/// An `AuditSink` shared with the audit log's task. Safe without a lock: only
/// `AuditLog.writeUntilClosed` (one task, sequential) writes, reopens or syncs it.
private struct UncheckedSink: @unchecked Sendable {
    let sink: AuditSink

    init(_ sink: AuditSink) {
        self.sink = sink
    }
}
