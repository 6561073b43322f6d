/// What a server's catalog lets validation see: tool names no tool has, argument paths a tool's
/// `inputSchema` lacks, matchers its types contradict, and `annotations` targets that name no
/// tool. Names and paths are warnings (the catalog may lag the server); `annotations` without a
/// catalog is an error, since it could never match.
enum CatalogChecks {
    static func problems(in server: ServerConfig) -> [PolicyDiagnostic] {
        var problems: [PolicyDiagnostic] = []
        guard let catalog = server.catalog else {
            for rule in server.rules {
                if let annotations = rule.targets.annotations, let first = annotations.first {
                    problems.append(
                        PolicyDiagnostic(
                            "rule '\(rule.name.value)': annotations need the server's catalog (catalog: its tools/list result), which says what each tool is",
                            at: first.key.location
                        )
                    )
                }
            }
            return problems
        }
        func warn(_ message: String, _ location: SourceLocation) {
            problems.append(PolicyDiagnostic(message, at: location, severity: .warning))
        }
        let names = catalog.tools.map(\.name)
        let file = catalog.file.split(separator: "/").last.map(String.init) ?? catalog.file
        for rule in server.rules {
            for pattern in rule.targets.tools ?? [] {
                let glob = Glob(pattern.value)
                guard !names.contains(where: glob.matches) else { continue }
                let what = Glob.hasWildcard(pattern.value) ? "pattern '\(pattern.value)' matches no tool" : "no tool '\(pattern.value)'"
                warn("\(what) in the catalog \(file)\(Suggestion.hint(for: pattern.value, in: names))", pattern.location)
            }
            if let annotations = rule.targets.annotations, CompiledTargets.tools(annotated: annotations, in: catalog).isEmpty {
                let wanted = annotations.map { "\($0.key.value): \($0.value)" }.joined(separator: ", ")
                warn("no tool in the catalog \(file) has annotations \(wanted)", annotations[0].key.location)
            }
            let tools = toolsCovered(by: rule.targets, in: catalog)
            for argument in rule.condition.map(argumentConditions) ?? [] {
                for tool in tools where tool.declaresProperties {
                    guard let schema = tool.schema(at: argument.path.value) else {
                        warn("argument '\(argument.path.value)' is not in the inputSchema of tool '\(tool.name)'", argument.path.location)
                        continue
                    }
                    if case let .string(type)? = schema["type"], let clash = clash(argument.matcher, type: type) {
                        warn(
                            "argument '\(argument.path.value)' is \(article(type)) \(type) in tool '\(tool.name)', but \(clash)",
                            argument.path.location
                        )
                    }
                }
            }
        }
        return problems
    }

    /// The catalog tools a rule's `tools` and `annotations` cover (its methods cover all).
    private static func toolsCovered(by targets: Targets, in catalog: ToolCatalog) -> [CatalogTool] {
        if let methods = targets.methods, methods.contains(where: { Glob($0.value).matches("tools/call") }) { return catalog.tools }
        let globs = (targets.tools ?? []).map { Glob($0.value) }
        let annotated = Set(CompiledTargets.tools(annotated: targets.annotations, in: catalog))
        return catalog.tools.filter { tool in annotated.contains(tool.name) || globs.contains { $0.matches(tool.name) } }
    }

    /// Every argument condition of a condition, those under `not` included.
    private static func argumentConditions(_ condition: Condition) -> [ArgumentCondition] {
        (condition.arguments ?? []) + (condition.not.map { argumentConditions($0.value) } ?? [])
    }

    /// Why a matcher can never compare an argument of a JSON Schema type, or nil.
    private static func clash(_ matcher: ArgumentMatcher, type: String) -> String? {
        let isNumber = type == "integer" || type == "number"
        switch matcher {
        case .pattern: return type == "string" ? nil : "a pattern matches strings only"
        case let .equals(value): return literalClash(value, type: type)
        case let .oneOf(values): return values.lazy.compactMap { literalClash($0, type: type) }.first
        case let .anyOf(matchers):
            // A list clashes only when every entry does.
            let clashes = matchers.map { clash($0, type: type) }
            return clashes.allSatisfy { $0 != nil } ? clashes.first ?? nil : nil
        case .min, .max: return isNumber ? nil : "min and max compare numbers only"
        case .maxLength: return type == "string" || type == "array" ? nil : "max_length measures strings and arrays only"
        case .present, .claim: return nil
        case let .all(matchers): return matchers.lazy.compactMap { clash($0, type: type) }.first
        }
    }

    private static func literalClash(_ value: ClaimValue, type: String) -> String? {
        switch (value, type) {
        case (.string, "string"), (.bool, "boolean"), (.integer, "integer"), (.integer, "number"), (.number, "number"): return nil
        case (.number, "integer"): return nil
        default: return "\(value) is not \(article(type)) \(type)"
        }
    }

    private static func article(_ type: String) -> String {
        type.first.map { "aeiou".contains($0) } == true ? "an" : "a"
    }
}
