import Yams

/// Reads typed values out of a composed YAML tree, collecting every problem with its position
/// instead of stopping at the first.
struct YAMLNodeReader {
    let file: String
    private(set) var diagnostics: [PolicyDiagnostic] = []
    private var nodesLeft: Int

    init(file: String, maxNodes: Int) {
        self.file = file
        self.nodesLeft = maxNodes
    }

    /// The keys and values of a mapping, by key, in file order.
    struct Fields {
        var entries: [(key: Located<String>, value: Node)]
        var location: SourceLocation

        subscript(_ key: String) -> Node? {
            entries.first { $0.key.value == key }?.value
        }
    }

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(PolicyDiagnostic(message, at: location))
    }

    mutating func warning(_ message: String, at location: SourceLocation) {
        diagnostics.append(PolicyDiagnostic(message, at: location, severity: .warning))
    }

    mutating func error(_ message: String, at node: Node) {
        error(message, at: location(of: node))
    }

    /// Counts a node against the file's budget; false once it is spent (reported once).
    private mutating func spend(_ node: Node) -> Bool {
        nodesLeft -= 1
        if nodesLeft == -1 { error("file has more YAML nodes than the limit allows", at: node) }
        return nodesLeft >= 0
    }

    /// A mapping with string keys, checked against the keys `allowed` and `required`.
    mutating func fields(_ node: Node, what: String, allowed: [String], required: [String] = []) -> Fields? {
        guard spend(node) else { return nil }
        guard case let .mapping(mapping) = node else {
            error("\(what) must be a mapping, found \(describe(node))", at: node)
            return nil
        }
        var fields = Fields(entries: [], location: location(of: node))
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode, keyNode.resolvedTagName != .null else {
                error("keys of \(what) must be strings, found \(describe(keyNode))", at: keyNode)
                continue
            }
            let key = scalar.string
            guard allowed.contains(key) else {
                error("unknown key '\(key)' in \(what)\(Suggestion.hint(for: key, in: allowed))", at: keyNode)
                continue
            }
            fields.entries.append((Located(key, at: location(of: keyNode)), value))
        }
        for key in required where fields[key] == nil {
            error("\(what) is missing required key '\(key)'", at: node)
        }
        return fields
    }

    /// A non-empty string scalar. Numbers and booleans are read as the text written.
    mutating func string(_ node: Node, what: String) -> Located<String>? {
        guard spend(node) else { return nil }
        guard case let .scalar(scalar) = node else {
            error("\(what) must be a string, found \(describe(node))", at: node)
            return nil
        }
        if scalar.style == .plain || scalar.style == .any, node.resolvedTagName == .null {
            error("\(what) must be a string, found null", at: node)
            return nil
        }
        if scalar.string.isEmpty {
            error("\(what) must not be empty", at: node)
            return nil
        }
        return Located(scalar.string, at: location(of: node))
    }

    /// A list of strings; `allowEmpty` false reports `[]`, which would silently match nothing.
    mutating func stringList(_ node: Node, what: String, allowEmpty: Bool = false) -> [Located<String>]? {
        guard spend(node) else { return nil }
        guard case let .sequence(sequence) = node else {
            error("\(what) must be a list, found \(describe(node))", at: node)
            return nil
        }
        if sequence.isEmpty && !allowEmpty {
            error("\(what) is an empty list, which matches nothing; remove it or list values", at: node)
            return nil
        }
        return sequence.compactMap { string($0, what: "each entry of \(what)") }
    }

    mutating func bool(_ node: Node, what: String) -> Bool? {
        guard spend(node) else { return nil }
        guard case .scalar = node, node.resolvedTagName == .bool, let value = node.bool else {
            error("\(what) must be true or false, found \(describe(node))", at: node)
            return nil
        }
        return value
    }

    mutating func int(_ node: Node, what: String, range: ClosedRange<Int>) -> Int? {
        guard spend(node) else { return nil }
        guard case .scalar = node, node.resolvedTagName == .int, let value = node.int else {
            error("\(what) must be a whole number, found \(describe(node))", at: node)
            return nil
        }
        guard range.contains(value) else {
            error("\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)", at: node)
            return nil
        }
        return value
    }

    /// A claim value as YAML types it: quoted text is a string, `42` an integer, `true` a bool.
    /// `allowObjects` is for token claims in policy tests; policy conditions compare scalars.
    mutating func claimValue(_ node: Node, what: String, allowObjects: Bool = false) -> ClaimValue? {
        guard spend(node) else { return nil }
        switch node {
        case let .scalar(scalar):
            switch node.resolvedTagName {
            case .null: return .null
            case .bool: return node.bool.map(ClaimValue.bool)
            case .int: return node.int.map { .integer(Int64($0)) }
            case .float: return node.float.map(ClaimValue.number)
            default: return .string(scalar.string)
            }
        case let .sequence(sequence):
            var items: [ClaimValue] = []
            for item in sequence {
                guard let value = claimValue(item, what: what, allowObjects: allowObjects) else { return nil }
                items.append(value)
            }
            return .array(items)
        case let .mapping(mapping) where allowObjects:
            var object: [String: ClaimValue] = [:]
            for (keyNode, valueNode) in mapping {
                guard let key = string(keyNode, what: "a claim name"),
                    let value = claimValue(valueNode, what: "claim '\(key.value)'", allowObjects: true)
                else { return nil }
                object[key.value] = value
            }
            return .object(object)
        case .mapping, .alias:
            error("\(what) must be a value or a list of values, found \(describe(node))", at: node)
            return nil
        }
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            switch node.resolvedTagName {
            case .null: return "null"
            case .bool: return "a boolean (\(scalar.string))"
            case .int, .float: return "a number (\(scalar.string))"
            default: return "the string '\(scalar.string)'"
            }
        }
    }
}

extension Node {
    /// The resolved YAML tag (`!!str`, `!!int`, `!!null`, ...), by name.
    var resolvedTagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
