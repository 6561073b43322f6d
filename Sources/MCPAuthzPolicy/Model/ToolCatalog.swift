import Crypto

/// A server's tools as its `tools/list` answers them, kept beside the policy (`catalog:`): the
/// policy owner reviews it, and it gives rules what a tool is (annotations), which arguments
/// clients mirror into `Mcp-Param-*` headers (`x-mcp-header`), and each tool's definition to pin.
package struct ToolCatalog: Sendable {
    /// The file it was read from.
    package var file: String
    /// Tools in file order.
    package let tools: [CatalogTool]
    /// Prompt names and resource URIs, when the file lists them.
    package var prompts: [String]
    package var resources: [String]
    /// The tools by name.
    package let toolsByName: [String: CatalogTool]

    package init(file: String, tools: [CatalogTool], prompts: [String] = [], resources: [String] = []) {
        self.file = file
        self.tools = tools
        self.prompts = prompts
        self.resources = resources
        toolsByName = Dictionary(tools.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// One tool of a catalog.
package struct CatalogTool: Sendable {
    package var name: String
    /// `annotations` of the definition (`destructiveHint`, `readOnlyHint`, ...).
    package var annotations: [String: ClaimValue]
    /// The JSON Schema of `arguments`, when the definition has one.
    package var inputSchema: [String: ClaimValue]?
    /// Arguments mirrored into headers, by the lower-cased name `Mcp-Param-{Name}` uses.
    package var headerParameters: [String: HeaderParameter]
    /// SHA-256 (hex) of the definition's name, description, inputSchema and annotations, as
    /// canonical JSON (keys sorted, no white space): what `pin_definitions` compares.
    package var definitionHash: String

    /// A tool from its `tools/list` entry.
    package init(definition: [String: ClaimValue]) throws(CatalogProblem) {
        guard case let .string(name)? = definition["name"], !name.isEmpty else { throw CatalogProblem("a tool has no string 'name'") }
        self.name = name
        switch definition["annotations"] {
        case nil, .null?: annotations = [:]
        case let .object(object)?: annotations = object
        default: throw CatalogProblem("tool '\(name)': annotations is not an object")
        }
        switch definition["inputSchema"] {
        case nil, .null?: inputSchema = nil
        case let .object(object)?: inputSchema = object
        default: throw CatalogProblem("tool '\(name)': inputSchema is not an object")
        }
        if let inputSchema { headerParameters = try HeaderParameter.all(in: inputSchema, tool: name) } else { headerParameters = [:] }
        definitionHash = Self.hash(definition)
    }

    /// The pinned fields of a definition, hashed: a live definition is compared by this. Numbers
    /// are compared by value (`1.0` and `1` hash alike), as JSON does not tell them apart and
    /// the proxies that pass definitions on (njs) rewrite them.
    package static func hash(_ definition: [String: ClaimValue]) -> String {
        var pinned: [String: ClaimValue] = [:]
        for key in ["name", "description", "inputSchema", "annotations"] { pinned[key] = definition[key].map(canonical) }
        let digest = SHA256.hash(data: Array(ClaimValue.object(pinned).jsonText.utf8))
        return digest.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    /// The value with every integral number written as an integer.
    private static func canonical(_ value: ClaimValue) -> ClaimValue {
        switch value {
        case let .number(number) where number.rounded() == number && abs(number) < 9_007_199_254_740_992:
            return .integer(Int64(number))
        case let .array(items): return .array(items.map(canonical))
        case let .object(object): return .object(object.mapValues(canonical))
        default: return value
        }
    }

    /// The schema of the argument at a dotted path, walking `properties`; nil when the schema
    /// does not declare it.
    package func schema(at path: String) -> [String: ClaimValue]? {
        guard var current = inputSchema else { return nil }
        if case let .object(properties)? = current["properties"], case let .object(direct)? = properties[path] { return direct }
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case let .object(properties)? = current["properties"], case let .object(next)? = properties[String(segment)] else {
                return nil
            }
            current = next
        }
        return current
    }

    /// Whether the schema lists its properties, so a path it lacks is worth reporting.
    package var declaresProperties: Bool {
        if case .object? = inputSchema?["properties"] { return true }
        return false
    }
}

/// An argument a client mirrors into `Mcp-Param-{Name}` (MCP 2026-07-28, `x-mcp-header`).
package struct HeaderParameter: Sendable, Equatable {
    package enum Kind: String, Sendable {
        case string
        case integer
        case boolean
    }

    /// The name as the schema gives it (`Region` for `Mcp-Param-Region`).
    package var header: String
    /// The argument's path: its `properties` keys, joined by dots.
    package var path: String
    package var kind: Kind

    /// Every `x-mcp-header` reachable from the schema root through `properties` alone (the only
    /// places the specification allows), by lower-cased header name.
    static func all(in schema: [String: ClaimValue], tool: String) throws(CatalogProblem) -> [String: HeaderParameter] {
        var found: [String: HeaderParameter] = [:]
        try collect(schema, prefix: [], tool: tool, into: &found)
        return found
    }

    private static func collect(
        _ schema: [String: ClaimValue], prefix: [String], tool: String, into found: inout [String: HeaderParameter]
    ) throws(CatalogProblem) {
        guard case let .object(properties)? = schema["properties"] else { return }
        for key in properties.keys.sorted() {
            guard case let .object(property)? = properties[key] else { continue }
            let path = prefix + [key]
            if let marked = property["x-mcp-header"] {
                let dotted = path.joined(separator: ".")
                guard case let .string(header) = marked, !header.isEmpty, header.unicodeScalars.allSatisfy(Self.isTokenCharacter) else {
                    throw CatalogProblem("tool '\(tool)': x-mcp-header of '\(dotted)' is not an HTTP field-name token")
                }
                guard case let .string(type)? = property["type"], let kind = Kind(rawValue: type) else {
                    throw CatalogProblem(
                        "tool '\(tool)': x-mcp-header '\(header)' marks '\(dotted)', which is not of type string, integer or boolean")
                }
                let lowered = header.lowercased()
                guard found[lowered] == nil else { throw CatalogProblem("tool '\(tool)': x-mcp-header '\(header)' is used twice") }
                found[lowered] = HeaderParameter(header: header, path: dotted, kind: kind)
            }
            try collect(property, prefix: path, tool: tool, into: &found)
        }
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
        }
    }

    /// The argument's value from the header's (decoded) text, typed as the schema says; nil
    /// when the text is not of that type.
    package func value(_ text: String) -> ClaimValue? {
        switch kind {
        case .string: return .string(text)
        case .integer:
            // Decimal, as the specification has clients write it; within JavaScript's safe range.
            guard let number = Int64(text), abs(number) <= 9_007_199_254_740_991, String(number) == text else { return nil }
            return .integer(number)
        case .boolean:
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        }
    }
}

/// Why a catalog file cannot be used.
package struct CatalogProblem: Error, Sendable {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }
}

extension ToolCatalog {
    /// A catalog from a file's JSON: a `tools/list` result (`{"tools": [...]}`, optionally with
    /// `prompts` and `resources`), or a JSON-RPC response holding one.
    package init(json: ClaimValue, file: String) throws(CatalogProblem) {
        guard case var .object(root) = json else { throw CatalogProblem("not a JSON object") }
        if case let .object(result)? = root["result"], root["tools"] == nil { root = result }
        guard case let .array(entries)? = root["tools"] else { throw CatalogProblem("no 'tools' list (a tools/list result)") }
        var tools: [CatalogTool] = []
        var seen = Set<String>()
        for entry in entries {
            guard case let .object(definition) = entry else { throw CatalogProblem("a tools entry is not an object") }
            let tool = try CatalogTool(definition: definition)
            guard seen.insert(tool.name).inserted else { throw CatalogProblem("tool '\(tool.name)' is listed twice") }
            tools.append(tool)
        }
        func names(_ key: String, _ field: String) -> [String] {
            guard case let .array(items)? = root[key] else { return [] }
            return items.compactMap { item in
                if case let .object(object) = item, case let .string(name)? = object[field] { return name }
                return nil
            }
        }
        self.init(file: file, tools: tools, prompts: names("prompts", "name"), resources: names("resources", "uri"))
    }
}
