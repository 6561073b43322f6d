/// Three-valued truth for conditions on arguments: a condition on an argument the decision
/// cannot see, or whose value is of a type its matcher cannot compare, is neither true nor
/// false. Combined as Kleene logic: false wins a conjunction, unknown beats true.
package enum Truth: Sendable, Equatable {
    case holds
    case fails
    case unknown

    static func all(_ parts: some Sequence<Truth>) -> Truth {
        var result = Truth.holds
        for part in parts {
            if part == .fails { return .fails }
            if part == .unknown { result = .unknown }
        }
        return result
    }

    static func any(_ parts: some Sequence<Truth>) -> Truth {
        var result = Truth.fails
        for part in parts {
            if part == .holds { return .holds }
            if part == .unknown { result = .unknown }
        }
        return result
    }

    var negated: Truth {
        switch self {
        case .holds: return .fails
        case .fails: return .holds
        case .unknown: return .unknown
        }
    }
}

/// One `arguments:` entry ready for matching.
package struct CompiledArgument: Sendable {
    package let path: String
    let matcher: ArgumentMatcher

    init(_ condition: ArgumentCondition) {
        path = condition.path.value
        matcher = condition.matcher
    }

    /// Whether the call's argument satisfies the matcher, for this caller (whose claims `claim:` reads).
    package func evaluate(_ arguments: MCPArguments, caller: Identity) -> Truth {
        switch arguments.lookup(path) {
        case .unknown: return .unknown
        case .absent: return matcher.absent
        case let .value(value): return matcher.evaluate(value, caller: caller)
        }
    }
}

extension ArgumentMatcher {
    /// The caller's claim paths this matcher compares with (`claim:`, nested ones included).
    package var claimPaths: [String] {
        switch self {
        case let .claim(path): return [path]
        case let .anyOf(matchers), let .all(matchers): return matchers.flatMap(\.claimPaths)
        default: return []
        }
    }

    /// For an argument the call does not give: only `present: false` holds.
    var absent: Truth {
        switch self {
        case let .present(present): return present ? .fails : .holds
        case let .anyOf(tests): return Truth.any(tests.map(\.absent))
        case let .all(tests): return Truth.all(tests.map(\.absent))
        default: return .fails
        }
    }

    func evaluate(_ value: ClaimValue, caller: Identity) -> Truth {
        switch self {
        case let .pattern(glob):
            guard case let .string(string) = value else { return .unknown }
            return glob.matches(string) ? .holds : .fails
        case let .equals(expected):
            return Self.equal(value, expected)
        case let .anyOf(tests):
            return Truth.any(tests.lazy.map { $0.evaluate(value, caller: caller) })
        case let .oneOf(values):
            return Truth.any(values.lazy.map { Self.equal(value, $0) })
        case let .min(bound):
            guard let number = Self.number(value) else { return .unknown }
            return number >= bound ? .holds : .fails
        case let .max(bound):
            guard let number = Self.number(value) else { return .unknown }
            return number <= bound ? .holds : .fails
        case let .maxLength(length):
            switch value {
            case let .string(string): return string.unicodeScalars.count <= length ? .holds : .fails
            case let .array(items): return items.count <= length ? .holds : .fails
            default: return .unknown
            }
        case let .present(present):
            return present ? .holds : .fails
        case let .claim(path):
            guard let claim = ClaimValue.lookup(path, in: caller.claims) else { return .fails }
            if case let .array(items) = claim { return Truth.any(items.lazy.map { Self.equal(value, $0) }) }
            return Self.equal(value, claim)
        case let .all(tests):
            return Truth.all(tests.lazy.map { $0.evaluate(value, caller: caller) })
        }
    }

    /// Typed equality: values of one type compare (integers and floats as numbers); values of
    /// types that cannot be compared (`"100"` and `100`, an object and a string) are unknown.
    static func equal(_ value: ClaimValue, _ expected: ClaimValue) -> Truth {
        switch (value, expected) {
        case (.string, .string), (.bool, .bool), (.integer, .integer), (.integer, .number), (.number, .integer), (.number, .number):
            return value.matches(expected) ? .holds : .fails
        default:
            return .unknown
        }
    }

    static func number(_ value: ClaimValue) -> Double? {
        switch value {
        case let .integer(integer): return Double(integer)
        case let .number(number): return number.isNaN ? nil : number
        default: return nil
        }
    }
}

extension ArgumentMatcher: CustomStringConvertible {
    /// The matcher as a phrase, for explanations: "at most 100", "a string matching 'acme/*'".
    package var description: String {
        func number(_ value: Double) -> String {
            value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }
        switch self {
        case let .pattern(glob): return "a string matching '\(glob.pattern)'"
        case let .equals(value): return "equal to \(value)"
        case let .anyOf(tests): return tests.map(\.description).joined(separator: " or ")
        case let .oneOf(values): return "one of " + values.map(\.description).joined(separator: ", ")
        case let .min(bound): return "at least \(number(bound))"
        case let .max(bound): return "at most \(number(bound))"
        case let .maxLength(length): return "at most \(length) long"
        case let .present(present): return present ? "present" : "absent"
        case let .claim(path): return "equal to the caller's claim '\(path)'"
        case let .all(tests): return tests.map(\.description).joined(separator: " and ")
        }
    }
}
