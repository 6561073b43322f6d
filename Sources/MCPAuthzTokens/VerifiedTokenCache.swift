import Crypto
import Metrics
import Synchronization

/// Tokens that passed verification for a server, kept until they expire so a repeated token
/// costs a hash instead of a signature check. Keyed by the SHA-256 of the token (the token
/// itself is never stored) and the server, since audience checks are per server. Bounded.
package final class VerifiedTokenCache: Sendable {
    package struct Key: Hashable, Sendable {
        var digest: SHA256Digest
        var serverID: String

        /// The first 8 bytes of the token's SHA-256 in hex: names a token in logs without
        /// revealing it.
        package var fingerprint: String {
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            for byte in digest.prefix(8) {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private let entries = Mutex<[Key: VerifiedToken]>([:])
    package let capacity: Int
    private let hits: Counter
    private let misses: Counter

    package init(capacity: Int = 10_000, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.capacity = max(1, capacity)
        hits = Counter(label: "mcp_authz_token_cache_total", dimensions: [("result", "hit")], factory: metrics)
        misses = Counter(label: "mcp_authz_token_cache_total", dimensions: [("result", "miss")], factory: metrics)
    }

    package static func key(token: String, serverID: String) -> Key {
        Key(digest: SHA256.hash(data: Array(token.utf8)), serverID: serverID)
    }

    package func get(_ key: Key, now: Double) -> VerifiedToken? {
        let found = entries.withLock { entries -> VerifiedToken? in
            guard let entry = entries[key] else { return nil }
            guard now <= entry.expiresAt else {
                entries[key] = nil
                return nil
            }
            return entry
        }
        if found == nil { misses.increment() } else { hits.increment() }
        return found
    }

    package func put(_ key: Key, _ token: VerifiedToken, now: Double) {
        entries.withLock { entries in
            entries.makeRoom(capacity: capacity) { $0.expiresAt >= now }
            entries[key] = token
        }
    }

    package var count: Int { entries.withLock { $0.count } }
}

extension Dictionary {
    /// Room for one more entry in a cache of at most `capacity`: entries no longer good go
    /// first; when it is still full, an arbitrary half, rather than grow without bound.
    mutating func makeRoom(capacity: Int, keeping stillGood: (Value) -> Bool) {
        guard count >= capacity else { return }
        self = filter { stillGood($0.value) }
        if count >= capacity {
            for key in keys.prefix(count / 2 + 1) { self[key] = nil }
        }
    }
}
