/// A JSON value as it appears in a token's claims or in a policy's `claims:` condition.
///
/// Numbers keep whether they were integral so that `org_id: 42` in a policy matches the claim
/// `42` exactly; a string `"42"` is a different value, as it is in JSON.
package enum ClaimValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case null
    case array([ClaimValue])
    case object([String: ClaimValue])

    /// Equality as a policy author means it: integers and floats compare by value.
    package func matches(_ other: ClaimValue) -> Bool {
        switch (self, other) {
        case let (.integer(a), .number(b)), let (.number(b), .integer(a)):
            return Double(a) == b
        default:
            return self == other
        }
    }

    /// The string, for claims that must be strings (`sub`, `email`, `azp`).
    package var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// The value at a claim path. A key that exists literally wins (namespaced claims such as
    /// `https://example.com/roles` contain dots); otherwise dots walk into nested objects
    /// (`realm_access.roles`).
    package static func lookup(_ path: String, in claims: [String: ClaimValue]) -> ClaimValue? {
        if let direct = claims[path] { return direct }
        guard path.contains(".") else { return nil }
        var current: ClaimValue = .object(claims)
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case let .object(object) = current, let next = object[String(segment)] else { return nil }
            current = next
        }
        return current
    }

    /// The strings in a claim that may be a space-delimited string or an array of strings
    /// (`scope`, `scp`, `permissions`, `groups`). Other element types are ignored.
    package var stringSet: [String] {
        switch self {
        case let .string(s):
            return s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        case let .array(items):
            return items.compactMap(\.stringValue)
        default:
            return []
        }
    }
}

extension ClaimValue: CustomStringConvertible {
    /// Compact JSON-like text, for explanations and test diffs.
    package var description: String {
        switch self {
        case let .string(s): return "\"\(s)\""
        case let .integer(i): return String(i)
        case let .number(d): return String(d)
        case let .bool(b): return String(b)
        case .null: return "null"
        case let .array(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .object(object):
            return "{" + object.keys.sorted().map { "\"\($0)\": \(object[$0]!.description)" }.joined(separator: ", ") + "}"
        }
    }
}
