import Synchronization

/// When each answer may go, under `--audit-durability written` or `synced`: group commit.
///
/// A request queues its record (getting its position in the queue, `AuditQueue`) and waits
/// here. The writer takes every pending record, writes them in one block to every destination
/// (and, for `synced`, has the files put on disk), then commits through the last position it
/// took: every answer waiting for a record up to there is released at once, as written.
///
/// While the log cannot write (a write failed, or made no progress for the stall timeout),
/// every waiting answer is released as not written, and so is every later one until a write
/// works again: the caller then withholds an allow when the log fails closed (`--audit-failure
/// deny`), and sends it otherwise, as the answer would have gone without this wait.
package final class AuditCommits: Sendable {
    /// Called once, with whether the record is written (as the mode promises).
    package typealias Waiter = @Sendable (_ written: Bool) -> Void

    private struct State: ~Copyable {
        /// Every record up to this position is written.
        var committed: UInt64 = 0
        /// The log cannot write now: waits end at once, not written.
        var failing = false
        /// The log has stopped: no record will be written any more.
        var ended = false
        var waiting: [(position: UInt64, waiter: Waiter)] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Calls `waiter` once the record at `position` is written, or as soon as it is known it
    /// will not be in time; at once when either is known already.
    package func wait(for position: UInt64, _ waiter: @escaping Waiter) {
        let now = state.withLock { state -> Bool? in
            if position <= state.committed { return true }
            if state.failing || state.ended { return false }
            state.waiting.append((position, waiter))
            return nil
        }
        if let now { waiter(now) }
    }

    /// Whether the record at `position` was written before the log failed.
    package func wait(for position: UInt64) async -> Bool {
        await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            wait(for: position) { done.resume(returning: $0) }
        }
    }

    /// Every record up to `position` is written: releases their answers together.
    package func commit(through position: UInt64) {
        let released = state.withLock { state -> [Waiter] in
            state.committed = max(state.committed, position)
            var released: [Waiter] = []
            state.waiting.removeAll { waiting in
                guard waiting.position <= position else { return false }
                released.append(waiting.waiter)
                return true
            }
            return released
        }
        for waiter in released { waiter(true) }
    }

    /// The log cannot write: every waiting answer goes now, as not written, and later ones too
    /// until `recover`.
    package func fail() {
        release { $0.failing = true }
    }

    /// A write worked again: answers wait for their records once more.
    package func recover() {
        state.withLock { $0.failing = false }
    }

    /// The writer has stopped for good: nothing waiting or to come will be written.
    package func end() {
        release { $0.ended = true }
    }

    private func release(marking mark: (inout State) -> Void) {
        let released = state.withLock { state -> [Waiter] in
            mark(&state)
            let released = state.waiting.map(\.waiter)
            state.waiting = []
            return released
        }
        for waiter in released { waiter(false) }
    }
}
