import Crypto
import Foundation
import Logging
import MCPAuthzPolicy
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// When an answer may be sent, relative to the writing of its audit record
/// (`--audit-durability`).
package enum AuditDurability: String, Sendable, CaseIterable {
    /// Once the record is queued for the writer: a killed process loses the records of answers
    /// sent in about the last few milliseconds.
    case queued
    /// Once `write(2)` has handed the record to the kernel for every destination: a killed
    /// process loses no answered decision; a machine crash can.
    case written
    /// Once, besides, every file destination is on disk (`fdatasync`).
    case synced
}

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
    /// A write that makes no progress for this long counts as a failed one (`--audit-stall-timeout`):
    /// a stdout pipe whose reader stopped reading must not pass for a log that writes.
    package var stallTimeout: Duration = .seconds(2)
    /// Signs checkpoints of the chain (`--audit-signing-key`); none without it.
    package var signingKey: Curve25519.Signing.PrivateKey?
    /// A checkpoint after this many records (`--audit-checkpoint-records`)...
    package var checkpointRecords = 1000
    /// ...or this long after the last one when records came since (`--audit-checkpoint-interval`).
    package var checkpointInterval: Duration = .seconds(60)
    /// When answers may go (`--audit-durability`). `written` by default: holding answers for
    /// their block's write cost nothing measurable against `queued` (bench N/B, bench/RESULTS.md).
    package var durability: AuditDurability = .written

    package init() {}
}

/// The audit log: every decision and every policy and key event, as chained JSON lines.
///
/// Requests hand records to a bounded queue; one task (this service's `run`) turns them into
/// lines and writes whatever is pending in one `write(2)` per destination, made on a thread of
/// its own (`AuditWriterThread`), never on an event loop. Under `written` and `synced`
/// durability each answer then waits until its block is written (`AuditCommits`: group
/// commit), so a killed process loses no answered decision; under `queued` it goes at once.
/// Nothing is lost on shutdown: the service stops after the HTTP server, and drains the queue
/// first. When a write fails, or makes no progress for
/// `stallTimeout`, the log turns unhealthy (log line, metric, readiness), keeps the unwritten
/// lines and retries; requests then either are denied (`failClosed`) or go on, and records
/// beyond the buffer are counted as dropped and noted in the log (`audit_gap`) once writing
/// works again.
package final class AuditLog: Service, Sendable {
    private let queue: AuditQueue
    private let commits = AuditCommits()
    private let sinks: [UncheckedSink]
    private let thread = AuditWriterThread()
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
        var tornTail = false
        var uncleanShutdown = false
        for destination in settings.destinations {
            let sink = try AuditSink(destination)
            if case let .file(path) = destination {
                let tail = AuditSink.tail(ofFile: path)
                if let last = tail.hash, previous == AuditLine.genesis { previous = last }
                // A line cut short by a kill is ended, so the chain goes on from the last
                // complete line and `audit verify` can tell the tear from a change.
                if tail.unterminated { try sink.write(Array("\n".utf8)) }
                if tail.torn {
                    tornTail = true
                    logger.warning("audit file ended with an incomplete line; it is terminated and recorded", metadata: ["audit.file": "\(path)"])
                }
                if tail.hash != nil, tail.lastEvent != "audit_stop" {
                    uncleanShutdown = true
                    logger.warning("the previous run did not end its audit log with audit_stop", metadata: ["audit.file": "\(path)"])
                }
            }
            sinks.append(UncheckedSink(sink))
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
                        .auditStart(
                            pid: Int(ProcessInfo.processInfo.processIdentifier),
                            destinations: settings.destinations.map(\.description).joined(separator: " "), tornTail: tornTail,
                            uncleanShutdown: uncleanShutdown
                        )
                    )
                )
            ),
            force: true
        )
    }

    /// Whether records are being written: no write failed since the last one that worked, and
    /// none has been stuck for `stallTimeout`.
    package var isHealthy: Bool { healthy.load(ordering: .relaxed) && !isStalled }

    private var isStalled: Bool {
        guard let busy = thread.busyFor() else { return false }
        return busy >= TimeAmount(settings.stallTimeout)
    }

    /// Whether a request may be allowed now: always when the log writes, and otherwise only
    /// if configured to keep deciding.
    package var permitsAllow: Bool { isHealthy || !settings.failClosed }

    /// Records a decision, true once it is kept as the durability mode promises: waits for room
    /// while the log is healthy (while it is not, a record that does not fit is dropped and
    /// counted), and in `written` and `synced` mode until its block is written. False when the
    /// record was dropped, or the log failed before writing it: a caller must then not answer
    /// an allow when the log fails closed (`Authorizer.withheld`).
    @discardableResult
    package func record(_ entry: AuditEntry) async -> Bool {
        guard let position = await queue.push(.entry(entry), keepWaiting: { self.isHealthy }) else {
            countDropped()
            return false
        }
        guard settings.durability != .queued else { return true }
        return await commits.wait(for: position)
    }

    /// What `recordNow` did with a record.
    package enum Receipt {
        /// Queued, and that is all the mode asks.
        case kept
        /// Queued at this position; the answer waits for `whenWritten`.
        case queued(UInt64)
        /// The buffer is full: the caller must `record` (and wait).
        case full
    }

    /// Records a decision if there is room now, without waiting.
    package func recordNow(_ entry: AuditEntry) -> Receipt {
        guard let position = queue.offer(.entry(entry)) else { return .full }
        return settings.durability == .queued ? .kept : .queued(position)
    }

    /// Calls `done` once the record at `position` (`Receipt.queued`) is written, with true, or
    /// with false when the log failed first (as `record` returns). Called on the writer's task,
    /// or at once on the caller's when the outcome is known already: hop to where the answer is
    /// sent.
    package func whenWritten(_ position: UInt64, _ done: @escaping @Sendable (Bool) -> Void) {
        commits.wait(for: position, done)
    }

    /// Records a decision if there is room now, else drops and counts it (for `audit_gap`).
    package func recordOrCount(_ entry: AuditEntry) {
        if queue.offer(.entry(entry)) == nil { countDropped() }
    }

    /// A record that could not be kept: counted for the metric and the next `audit_gap`.
    private func countDropped() {
        droppedSinceFailure.add(1, ordering: .relaxed)
        droppedCounter.increment()
    }

    /// Records an event (policy load, key refresh) without waiting: they are few.
    package func event(_ record: AuditEvent) {
        queue.offer(.entry(AuditEntry(time: Date().timeIntervalSince1970, .event(record))), force: true)
    }

    /// Reopens the files after the records already queued (SIGUSR1).
    package func reopen() {
        queue.offer(.reopen, force: true)
    }

    package func run() async {
        await withDiscardingTaskGroup { group in
            if settings.trapsSIGUSR1 {
                // Ends when the writer has drained the queue (cancelAll below), so a SIGUSR1
                // during shutdown still reopens. Not `cancelOnGracefulShutdown()`: its merge can
                // deadlock on cancellation when tasks run on NIO's event loops
                // (swift-async-algorithms #430), which hung a failed start-up.
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sigusr1) { self.reopen() }
                }
            }
            group.addTask { await self.watchForStalls() }
            if settings.signingKey != nil {
                group.addTask {
                    while (try? await Task.sleep(for: self.settings.checkpointInterval)) != nil {
                        self.queue.offer(.checkpoint, force: true)
                    }
                }
            }
            await withGracefulShutdownHandler {
                await self.writeUntilClosed()
            } onGracefulShutdown: {
                self.queue.close()
            }
            group.cancelAll()
        }
        commits.end()
        thread.shutdown()
    }

    /// Turns the log unhealthy once a write has been stuck for `stallTimeout`, so the log line,
    /// the metric and readiness say so even when no request asks (requests see it at once).
    private func watchForStalls() async {
        let interval = max(settings.stallTimeout / 4, .milliseconds(50))
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            if isStalled {
                failures.increment()
                becomeUnhealthy(AuditSinkError(message: "an audit write made no progress for \(settings.stallTimeout.inSeconds) s"))
            }
        }
    }

    /// Takes whatever is queued, writes it as one block, until the queue is closed and empty.
    /// Cancellation (the service group stopping because another service failed) closes the
    /// queue as a graceful shutdown does.
    private func writeUntilClosed() async {
        var previous = initialPrevious
        var block: [UInt8] = []
        var giveUpAt: NIODeadline?
        var checkpointer = settings.signingKey.map {
            AuditCheckpointer(key: $0, everyRecords: settings.checkpointRecords, interval: settings.checkpointInterval)
        }
        var started = false
        // The position of the last item taken (`AuditQueue`): what a written block commits.
        var taken: UInt64 = 0
        // Answers wait for their records in `written` and `synced`: then the first record after
        // a pause is written at once, and records gather while a write is under way.
        let gatherDelay = settings.durability == .queued ? settings.gatherDelay : .zero
        while var items = await withTaskCancellationHandler(operation: { await queue.next() }, onCancel: { queue.close() }) {
            if items.count < 256, !queue.isClosed, gatherDelay > .zero {
                try? await Task.sleep(for: gatherDelay)
                items += queue.takePending()
            }
            taken += UInt64(items.count)
            block.removeAll(keepingCapacity: true)
            var count = 0
            for item in items {
                switch item {
                case let .entry(entry):
                    append(entry, to: &block, previous: &previous)
                    count += 1
                    checkpointer?.counted(1)
                case .reopen:
                    guard await write(block, records: count, giveUpAt: &giveUpAt) else { return }
                    block.removeAll(keepingCapacity: true)
                    count = 0
                    await reopenFiles()
                    append(AuditEntry(time: Date().timeIntervalSince1970, .event(.auditReopen)), to: &block, previous: &previous)
                    count += 1
                    checkpointer?.counted(1)
                case .checkpoint:
                    break
                }
            }
            // A checkpoint right after the start, then whenever one is due.
            if var signer = checkpointer, !started || signer.isDue {
                append(signer.checkpoint(chain: previous, time: Date().timeIntervalSince1970), to: &block, previous: &previous)
                count += 1
                checkpointer = signer
            }
            started = true
            guard await write(block, records: count, giveUpAt: &giveUpAt) else { return }
            switch settings.durability {
            case .queued: break
            case .written: commits.commit(through: taken)
            case .synced:
                // Not committed when the disk refused: those answers went as not written
                // (`becomeUnhealthy`), and the next block's sync covers these records too.
                if await syncFiles(until: giveUpAt) { commits.commit(through: taken) }
            }
        }
        block.removeAll()
        append(AuditEntry(time: Date().timeIntervalSince1970, .event(.auditStop)), to: &block, previous: &previous)
        var count = 1
        if var signer = checkpointer {
            // The closing checkpoint, after audit_stop: a log that lacks it was cut short.
            signer.counted(1)
            append(signer.checkpoint(chain: previous, time: Date().timeIntervalSince1970), to: &block, previous: &previous)
            count += 1
        }
        guard await write(block, records: count, giveUpAt: &giveUpAt) else { return }
        _ = await syncFiles(until: giveUpAt)
    }

    /// Has every file destination put on disk what was written to it; false (and the log
    /// unhealthy) when one could not.
    private func syncFiles(until giveUpAt: NIODeadline?) async -> Bool {
        let sinks = sinks
        let outcome = await thread.perform(until: giveUpAt) { () -> AuditSinkError? in
            for sink in sinks {
                do throws(AuditSinkError) { try sink.sink.sync() } catch { return error }
            }
            return nil
        }
        let problem: AuditSinkError
        switch outcome {
        case .some(nil): return true
        case let .some(error?): problem = error
        case nil: problem = AuditSinkError(message: "the audit files could not be synced before exit")
        }
        failures.increment()
        becomeUnhealthy(problem)
        return false
    }

    private func append(_ entry: AuditEntry, to block: inout [UInt8], previous: inout String) {
        previous = AuditLine.append(entry, previous: previous, to: &block)
    }

    /// Writes a block to every destination on the writer thread, retrying while it fails.
    /// Gives up (false) only when shutting down and writes have failed or stalled for
    /// `shutdownRetry`.
    private func write(_ block: [UInt8], records: Int, giveUpAt: inout NIODeadline?) async -> Bool {
        guard !block.isEmpty else { return true }
        for sink in sinks {
            var bytes = block
            while true {
                if giveUpAt == nil, queue.isClosed { giveUpAt = .now() + TimeAmount(settings.shutdownRetry) }
                let result = await thread.perform(until: giveUpAt) { [bytes] () -> Result<Void, AuditSinkError> in
                    Result { () throws(AuditSinkError) in try sink.sink.write(bytes) }
                }
                guard let result else {
                    logger.critical(
                        "audit records could not be written before exit: the destination stopped taking them",
                        metadata: ["audit.destination": "\(sink.sink.destination)"]
                    )
                    return false
                }
                guard case let .failure(error) = result else { break }
                // The sink keeps what it could not write and sends it first next time.
                bytes = []
                failures.increment()
                becomeUnhealthy(error)
                if let giveUpAt, NIODeadline.now() >= giveUpAt {
                    logger.critical(
                        "audit records could not be written before exit",
                        metadata: ["audit.error": "\(error.message)", "audit.destination": "\(sink.sink.destination)"]
                    )
                    return false
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        written.increment(by: records)
        if !healthy.load(ordering: .relaxed) { becomeHealthy() }
        return true
    }

    private func reopenFiles() async {
        for sink in sinks {
            let result = await thread.perform { Result { () throws(AuditSinkError) in try sink.sink.reopen() } }
            if case let .failure(error)? = result {
                failures.increment()
                becomeUnhealthy(error)
            }
        }
    }

    private func becomeUnhealthy(_ error: AuditSinkError) {
        commits.fail()
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
        commits.recover()
        healthy.store(true, ordering: .relaxed)
        healthGauge.record(1)
        let dropped = droppedSinceFailure.exchange(0, ordering: .relaxed)
        logger.warning("audit log writes again", metadata: ["audit.dropped": "\(dropped)"])
        if dropped > 0 { event(.auditGap(dropped: dropped)) }
    }
}

/// An `AuditSink` shared with the audit log's writer thread. Safe without a lock: it is written,
/// reopened and synced only by calls on `AuditWriterThread`, whose one thread runs them one at
/// a time (the log's start-up writes it before that thread has any).
private struct UncheckedSink: @unchecked Sendable {
    let sink: AuditSink

    init(_ sink: AuditSink) {
        self.sink = sink
    }
}
