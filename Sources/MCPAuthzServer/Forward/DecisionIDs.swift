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
        // Written digit by digit into the string's own storage: this runs for every decision.
        // The counter's low 48 bits (12 digits) are used: 2^48 decisions before they repeat.
        return String(unsafeUninitializedCapacity: 24) { out in
            var index = 0
            for byte in prefix.utf8 {
                out[index] = byte
                index += 1
            }
            var rest = value
            for position in stride(from: 23, through: 12, by: -1) {
                out[position] = JSONWriter.hexDigit(UInt8(truncatingIfNeeded: rest & 0xF))
                rest >>= 4
            }
            return 24
        }
    }
}
