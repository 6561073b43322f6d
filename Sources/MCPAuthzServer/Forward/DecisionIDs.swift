import Synchronization

/// Decision ids: a random per-process prefix and a counter, so ids are unique across replicas
/// and restarts without a random draw per request.
package final class DecisionIDs: Sendable {
    private let prefix: String
    private let counter = Atomic<UInt64>(0)

    package init() {
        var generator = SystemRandomNumberGenerator()
        let random = generator.next() & 0xFFFF_FFFF_FFFF
        prefix = String(repeating: "0", count: 12 - String(random, radix: 16).count) + String(random, radix: 16)
    }

    package func next() -> String {
        let value = counter.add(1, ordering: .relaxed).newValue
        let digits = String(value, radix: 16)
        return prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }
}
