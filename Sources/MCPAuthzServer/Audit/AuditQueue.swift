import Synchronization

/// The bounded buffer between requests and the audit writer.
///
/// Requests add entries without waiting while there is room, and wait for room when it is
/// full (backpressure, never a silent drop). The one writer takes everything pending at once.
///
/// Every item added gets a position, 1, 2, 3, … in the order added; the writer takes items in
/// that order, so after it has taken n items in all, the last one it took is at position n
/// (what `--audit-durability written` waits for: `AuditCommits`).
package final class AuditQueue: Sendable {
    package enum Item: Sendable {
        case entry(AuditEntry)
        /// Reopen the file (SIGUSR1, after logrotate moved it).
        case reopen
        /// Time for a signed checkpoint, if records came since the last one.
        case checkpoint
    }

    private struct State: ~Copyable {
        var items: [Item] = []
        var capacity: Int
        var consumer: CheckedContinuation<[Item]?, Never>?
        var producers: [CheckedContinuation<Void, Never>] = []
        var closed = false
        /// The position of the last item added.
        var added: UInt64 = 0
    }

    private let state: Mutex<State>

    package init(capacity: Int) {
        state = Mutex(State(capacity: max(1, capacity)))
    }

    /// Adds an item, waiting while the buffer is full, for as long as `keepWaiting` holds: its
    /// position, or nil when it gave up.
    package func push(_ item: Item, keepWaiting: () -> Bool) async -> UInt64? {
        while true {
            if let position = offer(item) { return position }
            guard keepWaiting() else { return nil }
            await withCheckedContinuation { (producer: CheckedContinuation<Void, Never>) in
                let roomNow = state.withLock { state -> Bool in
                    if state.items.count < state.capacity || state.closed { return true }
                    state.producers.append(producer)
                    return false
                }
                if roomNow { producer.resume() }
            }
        }
    }

    /// Adds an item if there is room (or `force`): its position, or nil when the buffer is full.
    @discardableResult
    package func offer(_ item: Item, force: Bool = false) -> UInt64? {
        let added = state.withLock { state -> (position: UInt64, handOver: (CheckedContinuation<[Item]?, Never>, [Item])?)? in
            guard force || state.items.count < state.capacity || state.closed else { return nil }
            state.items.append(item)
            state.added += 1
            guard let consumer = state.consumer else { return (state.added, nil) }
            state.consumer = nil
            let items = state.items
            state.items = []
            return (state.added, (consumer, items))
        }
        guard let added else { return nil }
        if let (consumer, items) = added.handOver {
            consumer.resume(returning: items)
            wakeProducers()
        }
        return added.position
    }

    /// Everything pending, waiting for something when empty; nil once closed and empty.
    package func next() async -> [Item]? {
        let items: [Item]? = await withCheckedContinuation { consumer in
            let ready = state.withLock { state -> [Item]?? in
                if !state.items.isEmpty {
                    let items = state.items
                    state.items = []
                    return .some(items)
                }
                if state.closed { return .some(nil) }
                state.consumer = consumer
                return .none
            }
            if let ready { consumer.resume(returning: ready) }
        }
        wakeProducers()
        return items
    }

    /// Whatever is pending now, without waiting (possibly nothing).
    package func takePending() -> [Item] {
        let items = state.withLock { state -> [Item] in
            let items = state.items
            state.items = []
            return items
        }
        if !items.isEmpty { wakeProducers() }
        return items
    }

    /// No more waiting: `next` returns what is left, then nil.
    package func close() {
        let waiting = state.withLock { state -> (CheckedContinuation<[Item]?, Never>, [Item])? in
            state.closed = true
            guard let consumer = state.consumer else { return nil }
            state.consumer = nil
            let items = state.items
            state.items = []
            return (consumer, items)
        }
        if let (consumer, items) = waiting { consumer.resume(returning: items.isEmpty ? nil : items) }
        wakeProducers()
    }

    package var count: Int { state.withLock { $0.items.count } }

    package var isClosed: Bool { state.withLock { $0.closed } }

    /// Lets every waiting `push` look again (at the room, or at whether to keep waiting).
    package func wakeProducers() {
        let producers = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let waiting = state.producers
            state.producers = []
            return waiting
        }
        for producer in producers { producer.resume() }
    }
}
