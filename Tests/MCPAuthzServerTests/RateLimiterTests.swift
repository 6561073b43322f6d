import MCPAuthzPolicy
import Testing

@testable import MCPAuthzServer

/// The limits' state: bounded, least recently used dropped first, exact under concurrency.
@Suite struct RateLimiterTests {
    static let time = LimitTime(monotonic: 0, wall: 1_796_000_000)
    static let spec = LimitSpec(perSecond: 1.0 / 3600, burst: 2, quota: nil)

    static func charge(_ key: String, spec: LimitSpec = spec, limit: String = "l") -> LimitCharge {
        LimitCharge(limit: limit, spec: spec, key: LimitKey(["srv", limit, key]), units: 1)
    }

    @Test func theLeastRecentlyUsedKeyIsDroppedFirst() {
        var buckets = LRUBuckets(capacity: 3)
        let keys = ["a", "b", "c", "d"].map { LimitKey(["srv", "l", $0]) }
        for key in keys.prefix(3) { #expect(buckets.take(key, 1, Self.spec, at: Self.time) == (.taken, false)) }
        // a is used again, so b is now the oldest: d takes b's place.
        #expect(buckets.take(keys[0], 1, Self.spec, at: Self.time) == (.taken, false))
        #expect(buckets.take(keys[3], 1, Self.spec, at: Self.time) == (.taken, true))
        #expect(buckets.count == 3)
        // a kept its count (its burst of 2 is spent); b starts full again, and c is dropped for it.
        #expect(buckets.take(keys[0], 1, Self.spec, at: Self.time).0 != .taken)
        #expect(buckets.take(keys[1], 1, Self.spec, at: Self.time) == (.taken, true))
        #expect(buckets.take(keys[3], 1, Self.spec, at: Self.time) == (.taken, false))
        #expect(buckets.take(keys[2], 1, Self.spec, at: Self.time) == (.taken, true))
    }

    @Test func theLimiterHoldsAtMostMaxKeysAndCountsWhatItDrops() {
        let limiter = RateLimiter(maxKeys: 200)
        for n in 0..<10_000 { #expect(limiter.admit([Self.charge("caller-\(n)")], at: Self.time) == nil) }
        #expect(limiter.keyCount <= 200 && limiter.keyCount >= 190)
        #expect(limiter.droppedKeys == 10_000 - limiter.keyCount)
    }

    @Test func aRequestRefusedByALaterLimitTakesNothingFromEarlierOnes() {
        let limiter = RateLimiter(maxKeys: 100)
        let tight = LimitSpec(perSecond: 1.0 / 3600, burst: 1, quota: nil)
        let roomy = LimitSpec(perSecond: 1.0 / 3600, burst: 2, quota: nil)
        let request = [Self.charge("alice", spec: roomy, limit: "roomy"), Self.charge("alice", spec: tight, limit: "tight")]
        #expect(limiter.admit(request, at: Self.time) == nil)
        #expect(limiter.admit(request, at: Self.time) == RateLimiter.Refusal(limit: "tight", retryAfter: 3600))
        // roomy still has its second token.
        #expect(limiter.admit([request[0]], at: Self.time) == nil)
        #expect(limiter.admit([request[0]], at: Self.time)?.limit == "roomy")
    }

    @Test func oneKeyFromManyTasksAllowsExactlyItsBurst() async {
        let limiter = RateLimiter(maxKeys: 1000)
        let spec = LimitSpec(perSecond: 1.0 / 3600, burst: 3000, quota: nil)
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var allowed = 0
                    for _ in 0..<1000 where limiter.admit([Self.charge("shared", spec: spec)], at: RateLimiter.now()) == nil { allowed += 1 }
                    return allowed
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 3000)
    }
}
