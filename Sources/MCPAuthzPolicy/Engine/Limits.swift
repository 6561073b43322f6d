/// The time a limit is decided at: a monotonic clock for rates (never set back by NTP), the
/// UTC calendar for daily quotas. Passed in, so the arithmetic is pure and testable.
package struct LimitTime: Sendable {
    /// Seconds on a monotonic clock.
    package var monotonic: Double
    /// Seconds since 1970, UTC.
    package var wall: Double

    package init(monotonic: Double, wall: Double) {
        self.monotonic = monotonic
        self.wall = wall
    }

    /// The UTC calendar day, counted from 1970-01-01.
    package var day: Int32 { Int32(clamping: Int((wall / 86_400).rounded(.down))) }

    /// Whole seconds until the next UTC midnight (at least 1).
    package var secondsToMidnight: Int { max(1, Int((Double(Int(day) + 1) * 86_400 - wall).rounded(.up))) }
}

/// A limit's numbers: tokens refill at `perSecond` up to `burst`; at most `quota` a UTC day.
package struct LimitSpec: Sendable, Equatable {
    package var perSecond: Double?
    package var burst: Double
    package var quota: Int?

    package init(perSecond: Double?, burst: Double, quota: Int?) {
        self.perSecond = perSecond
        self.burst = burst
        self.quota = quota
    }

    package init(_ limit: RateLimit) {
        self.init(perSecond: limit.rate?.perSecond, burst: Double(limit.effectiveBurst), quota: limit.quota)
    }
}

/// One key's state: a token bucket and the day's count. 24 bytes, so a million keys stay small.
package struct LimitBucket: Sendable, Equatable {
    package var tokens: Double
    /// When `tokens` was last brought up to date (monotonic seconds).
    package var updated: Double
    package var day: Int32
    package var used: Int32

    package enum Verdict: Sendable, Equatable {
        case taken
        /// No room: whole seconds until there would be (at least 1).
        case refused(retryAfter: Int)
    }

    /// A full bucket: a key never seen may use its whole burst.
    package init(_ spec: LimitSpec, at time: LimitTime) {
        tokens = spec.burst
        updated = time.monotonic
        day = time.day
        used = 0
    }

    /// Takes `units` when both the rate and the day's quota have room; else takes nothing.
    /// A clock that went backwards refills nothing (and the day's count is kept until a later
    /// day than the one it counts).
    package mutating func take(_ units: Int, _ spec: LimitSpec, at time: LimitTime) -> Verdict {
        if let perSecond = spec.perSecond {
            let elapsed = time.monotonic - updated
            if elapsed > 0 {
                tokens = min(spec.burst, tokens + elapsed * perSecond)
                updated = time.monotonic
            }
            // A burst lowered by a reload applies at once.
            tokens = min(tokens, spec.burst)
        }
        if time.day > day {
            day = time.day
            used = 0
        }
        if let quota = spec.quota, Int(used) + units > quota {
            return .refused(retryAfter: time.secondsToMidnight)
        }
        if let perSecond = spec.perSecond, tokens < Double(units) {
            let wait = (Double(units) - tokens) / perSecond
            return .refused(retryAfter: max(1, Int(min(wait, 1e9).rounded(.up))))
        }
        if spec.perSecond != nil { tokens -= Double(units) }
        used = Int32(clamping: Int(used) + units)
        return .taken
    }

    /// Returns what `take` took, when a later limit of the same request refused it.
    package mutating func giveBack(_ units: Int, _ spec: LimitSpec) {
        if spec.perSecond != nil { tokens = min(spec.burst, tokens + Double(units)) }
        used = max(0, used - Int32(clamping: units))
    }
}

/// A limit ready to be applied.
package final class CompiledLimit: Sendable {
    package let name: String
    package let key: [RateLimit.KeyPart]
    package let spec: LimitSpec
    package let config: RateLimit
    let condition: CompiledCondition
    let targets: CompiledTargets?

    init(_ limit: RateLimit, catalog: ToolCatalog?) {
        name = limit.name.value
        key = limit.key
        spec = LimitSpec(limit)
        config = limit
        condition = CompiledCondition(limit.condition)
        targets = limit.appliesTo.map { CompiledTargets($0, catalog: catalog) }
    }

    /// The limit in words: "10/s, burst 20, 100/day".
    package var summary: String {
        var parts: [String] = []
        if let rate = config.rate { parts.append("\(rate), burst \(config.effectiveBurst)") }
        if let quota = config.quota { parts.append("\(quota)/day") }
        return parts.joined(separator: ", ")
    }

    /// Whether the limit applies to this caller making this call (nil: a request that names no
    /// operation, which only a limit without `applies_to` covers). An argument condition that
    /// cannot be evaluated applies the limit: a limit restricts, so doubt limits.
    func applies(to identity: Identity, _ operation: MCPOperation?) -> Bool {
        if let operation {
            if let targets, targets.match(operation) == nil { return false }
        } else if targets != nil {
            return false
        }
        if case .fails = condition.evaluate(identity, operation?.arguments ?? .unavailable) { return false }
        return true
    }

    /// The key's values for this caller and call; a part the request lacks is empty (such
    /// requests share one bucket).
    package func keyValues(_ identity: Identity, _ operation: MCPOperation?, clientIP: String?) -> [String] {
        key.map { value(of: $0, identity, operation, clientIP: clientIP) }
    }

    private func value(of part: RateLimit.KeyPart, _ identity: Identity, _ operation: MCPOperation?, clientIP: String?) -> String {
        switch part {
        case .subject: return identity.subject ?? ""
        case .client: return identity.clientID ?? ""
        case .issuer: return identity.issuerID
        case .email: return identity.usableEmail ?? ""
        case .clientIP: return clientIP ?? ""
        case .tool: return operation?.target?.name ?? ""
        case .method: return operation?.method ?? ""
        case let .claim(path): return ClaimValue.lookup(path, in: identity.claims)?.jsonText ?? ""
        }
    }

    /// The key of this caller and call under this limit of `server`, hashed without building
    /// the parts' list.
    func hashedKey(server: String, _ identity: Identity, _ operation: MCPOperation?, clientIP: String?) -> LimitKey {
        var hasher = LimitKey.Hashing()
        hasher.add(server)
        hasher.add(name)
        for part in key { hasher.add(value(of: part, identity, operation, clientIP: clientIP)) }
        return hasher.key
    }
}

/// A limit's key as 128 bits: a SipHash digest under this process's random seed (an attacker
/// who does not know the seed cannot aim two callers at one bucket) beside an FNV-1a digest
/// (cheap, so two keys must collide in both to share a bucket); a million keys cost 16 bytes
/// each instead of their text.
package struct LimitKey: Sendable, Hashable {
    package var high: UInt64
    package var low: UInt64

    /// The key of these parts (the server, the limit's name, then the values).
    package init(_ parts: [String]) {
        var hashing = Hashing()
        for part in parts { hashing.add(part) }
        self = hashing.key
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// `high` is already a keyed hash: the dictionary needs no more than it.
    package func hash(into hasher: inout Hasher) {
        hasher.combine(high)
    }

    struct Hashing {
        private var keyed = Hasher()
        private var fnv: UInt64 = 0xCBF2_9CE4_8422_2325

        mutating func add(_ part: String) {
            keyed.combine(part)
            var part = part
            part.withUTF8 { bytes in
                for byte in bytes {
                    fnv ^= UInt64(byte)
                    fnv = fnv &* 0x0000_0100_0000_01B3
                }
            }
            // A separator, so ("ab", "c") and ("a", "bc") differ.
            fnv ^= 0xFF
            fnv = fnv &* 0x0000_0100_0000_01B3
        }

        var key: LimitKey {
            LimitKey(high: UInt64(bitPattern: Int64(keyed.finalize())), low: fnv)
        }
    }
}

/// What one request costs one limit under one key.
package struct LimitCharge: Sendable, Equatable {
    package let limit: String
    package let spec: LimitSpec
    /// The hash of the server, the limit's name and the key's values.
    package let key: LimitKey
    package var units: Int

    package init(limit: String, spec: LimitSpec, key: LimitKey, units: Int) {
        self.limit = limit
        self.spec = spec
        self.key = key
        self.units = units
    }
}

extension CompiledServer {
    /// What a request the rules allowed costs each limit that applies: one unit per operation
    /// (a batch of three calls costs three), or one for a request that names none. In the
    /// order the limits are written.
    package func charges(_ identity: Identity, _ operations: [MCPOperation], clientIP: String?) -> [LimitCharge] {
        guard !limits.isEmpty else { return [] }
        var charges: [LimitCharge] = []
        charges.reserveCapacity(limits.count)
        // One operation or none (the usual request): one charge per limit, nothing to merge.
        if operations.count <= 1 {
            let operation = operations.first
            for limit in limits where limit.applies(to: identity, operation) {
                let key = limit.hashedKey(server: id, identity, operation, clientIP: clientIP)
                charges.append(LimitCharge(limit: limit.name, spec: limit.spec, key: key, units: 1))
            }
            return charges
        }
        for limit in limits {
            for operation in operations where limit.applies(to: identity, operation) {
                let key = limit.hashedKey(server: id, identity, operation, clientIP: clientIP)
                if let index = charges.firstIndex(where: { $0.key == key }) {
                    charges[index].units += 1
                } else {
                    charges.append(LimitCharge(limit: limit.name, spec: limit.spec, key: key, units: 1))
                }
            }
        }
        return charges
    }
}

extension [LimitCharge] {
    /// Takes every charge or none: `take` each in order; the first refused decides, and what
    /// the charges before it took is given back. The limiter and the ledger both admit so.
    package func admit(
        take: (LimitCharge) -> LimitBucket.Verdict, giveBack: (LimitCharge) -> Void
    ) -> (limit: String, retryAfter: Int)? {
        for (index, charge) in enumerated() {
            guard case let .refused(retryAfter) = take(charge) else { continue }
            for given in self[..<index] { giveBack(given) }
            return (charge.limit, retryAfter)
        }
        return nil
    }
}

/// Buckets by key in a plain dictionary, for policy tests and `explain`: what the sidecar's
/// limiter does, without its bound and locks.
package struct LimitLedger: Sendable {
    private var buckets: [LimitKey: LimitBucket] = [:]

    package init() {}

    /// Takes every charge or none; the first limit without room refuses.
    package mutating func admit(_ charges: [LimitCharge], at time: LimitTime) -> (limit: String, retryAfter: Int)? {
        charges.admit(
            take: { charge in buckets[charge.key, default: LimitBucket(charge.spec, at: time)].take(charge.units, charge.spec, at: time) },
            giveBack: { given in buckets[given.key]?.giveBack(given.units, given.spec) }
        )
    }
}
