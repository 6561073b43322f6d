import Foundation
import MCPAuthzPolicy
import Metrics
import Synchronization

/// The limits' state: one bucket per key, in memory, per replica. At most `maxKeys` buckets;
/// past that the least recently used key is dropped (its next request starts full). Keys are
/// spread over shards, each with its own lock and its own least-recently-used order, so
/// requests of different keys rarely wait for each other.
package final class RateLimiter: Sendable {
    /// A request refused: the limit that had no room, and when it would.
    package struct Refusal: Sendable, Equatable {
        package var limit: String
        package var retryAfter: Int
    }

    private final class Shard: Sendable {
        let state: Mutex<LRUBuckets>

        init(capacity: Int) {
            state = Mutex(LRUBuckets(capacity: capacity))
        }
    }

    private let shards: [Shard]
    private let dropped = Atomic<Int>(0)
    private let droppedCounter: Metrics.Counter?
    package let maxKeys: Int

    package static let shardCount = 64

    package init(maxKeys: Int, dropped counter: Metrics.Counter? = nil) {
        self.maxKeys = maxKeys
        droppedCounter = counter
        let shards = min(Self.shardCount, max(1, maxKeys))
        let base = maxKeys / shards, extra = maxKeys % shards
        self.shards = (0..<shards).map { index in Shard(capacity: base + (index < extra ? 1 : 0)) }
    }

    /// Takes every charge, or none: the first limit without room refuses the request, and
    /// what the limits before it took is given back.
    package func admit(_ charges: [LimitCharge], at time: LimitTime) -> Refusal? {
        let refused = charges.admit(
            take: { charge in
                shard(charge.key).state.withLock { buckets in
                    let (verdict, evicted) = buckets.take(charge.key, charge.units, charge.spec, at: time)
                    if evicted {
                        dropped.add(1, ordering: .relaxed)
                        droppedCounter?.increment()
                    }
                    return verdict
                }
            },
            giveBack: { given in shard(given.key).state.withLock { $0.giveBack(given.key, given.units, given.spec) } }
        )
        return refused.map { Refusal(limit: $0.limit, retryAfter: $0.retryAfter) }
    }

    /// Buckets held now.
    package var keyCount: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.count } } }

    /// Keys dropped to stay within `maxKeys`, since start.
    package var droppedKeys: Int { dropped.load(ordering: .relaxed) }

    private func shard(_ key: LimitKey) -> Shard { shards[Int(key.high % UInt64(shards.count))] }

    /// Now, on the clocks limits use.
    package static func now() -> LimitTime {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return LimitTime(monotonic: Double(seconds) + Double(attoseconds) / 1e18, wall: Date().timeIntervalSince1970)
    }

    /// Where the monotonic clock's seconds count from.
    private static let origin = ContinuousClock.now
}

/// Buckets by key with a least-recently-used order, in flat arrays (a doubly linked list by
/// index), so a million keys cost a few tens of bytes each and no allocation per request.
struct LRUBuckets {
    private struct Slot {
        var key: LimitKey
        var bucket: LimitBucket
        var newer: Int32
        var older: Int32
    }

    private var index: [LimitKey: Int32] = [:]
    private var slots: [Slot] = []
    /// Most and least recently used slots; -1 when empty.
    private var newest: Int32 = -1
    private var oldest: Int32 = -1
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    /// Takes from the key's bucket (a new key starts full); whether a key was dropped for it.
    mutating func take(_ key: LimitKey, _ units: Int, _ spec: LimitSpec, at time: LimitTime) -> (LimitBucket.Verdict, Bool) {
        var evicted = false
        let slot: Int32
        if let found = index[key] {
            slot = found
            touch(slot)
        } else {
            evicted = slots.count >= capacity
            slot = insert(key, LimitBucket(spec, at: time))
        }
        return (slots[Int(slot)].bucket.take(units, spec, at: time), evicted)
    }

    mutating func giveBack(_ key: LimitKey, _ units: Int, _ spec: LimitSpec) {
        guard let slot = index[key] else { return }
        slots[Int(slot)].bucket.giveBack(units, spec)
    }

    /// A new slot at the newest end; the oldest key's slot is reused when full.
    private mutating func insert(_ key: LimitKey, _ bucket: LimitBucket) -> Int32 {
        let slot: Int32
        if slots.count < capacity {
            slot = Int32(slots.count)
            slots.append(Slot(key: key, bucket: bucket, newer: -1, older: -1))
        } else {
            slot = oldest
            unlink(slot)
            index[slots[Int(slot)].key] = nil
            slots[Int(slot)] = Slot(key: key, bucket: bucket, newer: -1, older: -1)
        }
        index[key] = slot
        linkNewest(slot)
        return slot
    }

    private mutating func touch(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        linkNewest(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let newer = slots[Int(slot)].newer, older = slots[Int(slot)].older
        if newer >= 0 { slots[Int(newer)].older = older } else { newest = older }
        if older >= 0 { slots[Int(older)].newer = newer } else { oldest = newer }
        slots[Int(slot)].newer = -1
        slots[Int(slot)].older = -1
    }

    private mutating func linkNewest(_ slot: Int32) {
        slots[Int(slot)].older = newest
        slots[Int(slot)].newer = -1
        if newest >= 0 { slots[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
    }
}
