/// A set of names tuned for the decision path: the short lists rules usually hold are compared
/// directly, which is cheaper than hashing the probe; long lists (an allowlist of thousands of
/// emails) are hashed.
struct NameSet: Sendable {
    private let small: [String]
    private let large: Set<String>

    /// Up to this many names are compared one by one.
    private static let linearLimit = 8

    init(_ names: some Sequence<String>) {
        let unique = Set(names)
        if unique.count <= Self.linearLimit {
            small = unique.sorted()
            large = []
        } else {
            small = []
            large = unique
        }
    }

    var elements: [String] { small.isEmpty ? Array(large) : small }

    @inline(__always)
    func contains(_ name: String) -> Bool {
        small.isEmpty ? large.contains(name) : small.contains(name)
    }

    /// Every name is in `other`.
    @inline(__always)
    func isSubset(of other: Set<String>) -> Bool {
        small.isEmpty ? large.isSubset(of: other) : small.allSatisfy(other.contains)
    }

    /// No name is in `other`.
    @inline(__always)
    func isDisjoint(with other: Set<String>) -> Bool {
        small.isEmpty ? large.isDisjoint(with: other) : !small.contains(where: other.contains)
    }
}
