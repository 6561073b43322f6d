/// Checks that need the whole merged policy: references, uniqueness, routing ambiguity and rules
/// that can never match.
enum PolicyValidator {
    static func problems(in policy: PolicySet) -> [PolicyDiagnostic] {
        var problems: [PolicyDiagnostic] = []
        func error(_ message: String, _ location: SourceLocation) {
            problems.append(PolicyDiagnostic(message, at: location))
        }

        var issuersByID: [String: IssuerConfig] = [:]
        var issuersByURL: [String: IssuerConfig] = [:]
        for issuer in policy.issuers {
            if let first = issuersByID[issuer.id.value] {
                error("issuer id '\(issuer.id.value)' is already defined at \(first.id.location)", issuer.id.location)
            } else {
                issuersByID[issuer.id.value] = issuer
            }
            if !issuer.issuer.value.isEmpty {
                if let first = issuersByURL[issuer.issuer.value] {
                    error(
                        "issuer '\(issuer.issuer.value)' is already configured as '\(first.id.value)'; a token's iss must name one issuer",
                        issuer.issuer.location)
                } else {
                    issuersByURL[issuer.issuer.value] = issuer
                }
            }
        }

        var serversByID: [String: ServerConfig] = [:]
        var serversByRoute: [String: ServerConfig] = [:]
        for server in policy.servers {
            if let first = serversByID[server.id.value] {
                error("server id '\(server.id.value)' is already defined at \(first.id.location)", server.id.location)
            } else {
                serversByID[server.id.value] = server
            }
            let route = ServerRouter.routeKey(host: server.match.host?.value, pathPrefix: server.match.pathPrefix?.value)
            if let first = serversByRoute[route] {
                error(
                    "server '\(server.id.value)' matches the same requests as server '\(first.id.value)' (\(first.match.location)); give one a different host or path_prefix",
                    server.match.location
                )
            } else {
                serversByRoute[route] = server
            }
            problems += Self.problems(in: server, issuers: issuersByID)
            problems += ShadowedRules.problems(in: server)
            problems += CatalogChecks.problems(in: server)
        }
        problems += shadowedHostless(policy.servers)
        return problems
    }

    /// Host-less servers whose prefix overlaps a server naming a host: requests for that host go
    /// to the servers naming it only (virtual-host semantics), which a reader of the prefixes
    /// alone may not expect.
    private static func shadowedHostless(_ servers: [ServerConfig]) -> [PolicyDiagnostic] {
        var warnings: [PolicyDiagnostic] = []
        for hostless in servers where hostless.match.host == nil {
            let prefix = ServerRouter.normalizedPrefix(hostless.match.pathPrefix?.value)
            for named in servers {
                guard let host = named.match.host?.value,
                    ServerRouter.overlap(prefix, ServerRouter.normalizedPrefix(named.match.pathPrefix?.value))
                else { continue }
                warnings.append(
                    PolicyDiagnostic(
                        "server '\(hostless.id.value)' (any host, path_prefix \(prefix)) overlaps server '\(named.id.value)' (host \(host)): requests for \(host) go only to the servers naming that host, never to '\(hostless.id.value)'",
                        at: hostless.match.location, severity: .warning
                    )
                )
            }
        }
        return warnings
    }

    private static func problems(in server: ServerConfig, issuers: [String: IssuerConfig]) -> [PolicyDiagnostic] {
        var problems: [PolicyDiagnostic] = []
        func error(_ message: String, _ location: SourceLocation) {
            problems.append(PolicyDiagnostic(message, at: location))
        }
        // An opaque token names no issuer: it goes to the one introspecting issuer the server
        // accepts, never to several (each would see a token that may not be its own).
        let introspecting = server.issuers.filter { issuers[$0.value].map { $0.tokenFormat != .jwt } ?? false }
        if introspecting.count > 1 {
            error(
                "server '\(server.id.value)' accepts \(introspecting.count) issuers that introspect tokens (\(introspecting.map(\.value).joined(separator: ", "))); an opaque token names no issuer, so it could only be sent to all of them: keep one",
                introspecting[1].location)
        }
        let accepted = Set(server.issuers.map(\.value))
        for reference in server.issuers where issuers[reference.value] == nil {
            error(
                "server '\(server.id.value)' names issuer '\(reference.value)', which is not defined\(Suggestion.hint(for: reference.value, in: issuers.keys))",
                reference.location)
        }
        var rulesByName: [String: Rule] = [:]
        let supported = Set(server.scopesSupported.map(\.value))
        for rule in server.rules {
            if let first = rulesByName[rule.name.value] {
                error("rule name '\(rule.name.value)' is already used in server '\(server.id.value)' at \(first.name.location)", rule.name.location)
            } else {
                rulesByName[rule.name.value] = rule
            }
            guard let condition = rule.condition else { continue }
            for reference in condition.issuers ?? [] {
                if issuers[reference.value] == nil {
                    error(
                        "rule '\(rule.name.value)' names issuer '\(reference.value)', which is not defined\(Suggestion.hint(for: reference.value, in: issuers.keys))",
                        reference.location)
                } else if !accepted.contains(reference.value) {
                    error(
                        "rule '\(rule.name.value)' can never match: server '\(server.id.value)' does not accept tokens from issuer '\(reference.value)'",
                        reference.location)
                }
            }
            if let reason = UnreachableRule.reason(condition) {
                error("rule '\(rule.name.value)' can never match: \(reason)", condition.location)
            }
            if !supported.isEmpty {
                for scope in (condition.scopes ?? []) + (condition.anyScopes ?? []) where !supported.contains(scope.value) {
                    problems.append(
                        PolicyDiagnostic(
                            "scope '\(scope.value)' is not in scopes_supported of server '\(server.id.value)', so clients will not know to request it\(Suggestion.hint(for: scope.value, in: supported))",
                            at: scope.location, severity: .warning
                        )
                    )
                }
            }
        }
        problems += limitProblems(in: server, accepted: accepted, issuers: issuers)
        return problems
    }

    /// Limits that repeat a name, or can never apply: a contradictory condition, an issuer the
    /// server does not accept, or operations no rule allows (only allowed requests are limited).
    private static func limitProblems(in server: ServerConfig, accepted: Set<String>, issuers: [String: IssuerConfig]) -> [PolicyDiagnostic] {
        var problems: [PolicyDiagnostic] = []
        var names: [String: SourceLocation] = [:]
        let allowing = server.rules.filter { $0.effect == .allow }.map { CompiledTargets($0.targets, catalog: server.catalog) }
        for limit in server.limits {
            let name = limit.name.value
            if let first = names[name] {
                problems.append(
                    PolicyDiagnostic("limit name '\(name)' is already used in server '\(server.id.value)' at \(first)", at: limit.name.location))
            } else {
                names[name] = limit.name.location
            }
            if let condition = limit.condition {
                for reference in condition.issuers ?? [] where issuers[reference.value] == nil || !accepted.contains(reference.value) {
                    problems.append(
                        PolicyDiagnostic(
                            "limit '\(name)' can never apply: server '\(server.id.value)' does not accept tokens from issuer '\(reference.value)'",
                            at: reference.location
                        )
                    )
                }
                if let reason = UnreachableRule.reason(condition) {
                    problems.append(PolicyDiagnostic("limit '\(name)' can never apply: \(reason)", at: condition.location))
                }
            }
            guard let appliesTo = limit.appliesTo else { continue }
            let targets = CompiledTargets(appliesTo, catalog: server.catalog)
            var entries: [(Located<String>, MCPOperation)] = (appliesTo.methods ?? []).map { ($0, MCPOperation(method: Glob($0.value).example())) }
            for (kind, list) in [(TargetKind.tool, appliesTo.tools), (.prompt, appliesTo.prompts), (.resource, appliesTo.resources)] {
                for entry in list ?? [] {
                    entries.append((entry, MCPOperation(method: kind.callMethod, target: .init(kind: kind, name: Glob(entry.value).example()))))
                }
            }
            for (entry, example) in entries where !allowing.contains(where: { Self.overlap($0, example, Glob(entry.value)) }) {
                problems.append(
                    PolicyDiagnostic(
                        "limit '\(name)' can never apply to '\(entry.value)': no rule of server '\(server.id.value)' allows it, and only allowed requests are limited",
                        at: entry.location
                    )
                )
            }
            if appliesTo.annotations != nil, targets.byKind[.tool]?.isEmpty != false, appliesTo.tools == nil {
                problems.append(
                    PolicyDiagnostic(
                        "limit '\(name)' can never apply: no tool of the server's catalog has the annotations its applies_to names",
                        at: appliesTo.location
                    )
                )
            }
        }
        return problems
    }

    /// Whether an allow rule's targets may match some operation a limit's pattern names: the
    /// rule matches the pattern's example, or one of the rule's patterns matches the other's.
    private static func overlap(_ rule: CompiledTargets, _ example: MCPOperation, _ pattern: Glob) -> Bool {
        if rule.match(example) != nil { return true }
        if rule.methods.contains(where: { pattern.matches($0.example()) || pattern.matches($0.example(star: "x")) }) && example.target == nil {
            return true
        }
        guard let kind = example.target?.kind else { return false }
        return (rule.byKind[kind] ?? []).contains { pattern.matches($0.example()) || pattern.matches($0.example(star: "x")) }
    }
}

/// Conditions that contradict themselves, so the rule carrying them can never apply.
enum UnreachableRule {
    static func reason(_ condition: Condition) -> String? {
        if let emails = condition.emails, let domains = condition.emailDomains {
            let allowedDomains = Set(domains.map(\.value))
            if !emails.contains(where: { EmailAddress.domain(of: $0.value).map { allowedDomains.contains(String($0)) } ?? false }) {
                return "none of its emails is in its email_domains"
            }
        }
        guard let negated = condition.not?.value else { return nil }
        // `not` negates the whole nested condition, so only a nested condition with a single
        // key can be compared with the outer one key by key.
        let negatedKeys = negated.presentKeys
        guard negatedKeys.count == 1, let key = negatedKeys.first else { return nil }
        func values(_ list: [Located<String>]?) -> Set<String>? { list.map { Set($0.map(\.value)) } }
        switch key {
        case "scopes":
            // Holding every scope of the outer list implies holding every scope of a subset.
            if let outer = values(condition.scopes), let inner = values(negated.scopes), inner.isSubset(of: outer) {
                return "it requires scopes \(inner.sorted().joined(separator: " ")) and also requires not having them"
            }
        case "any_scopes":
            if let outer = values(condition.anyScopes), let inner = values(negated.anyScopes), outer.isSubset(of: inner) {
                return "any scope that satisfies any_scopes is also excluded by its not"
            }
        default:
            let pairs: [(String, [Located<String>]?, [Located<String>]?)] = [
                ("issuers", condition.issuers, negated.issuers), ("emails", condition.emails, negated.emails),
                ("email_domains", condition.emailDomains, negated.emailDomains), ("subjects", condition.subjects, negated.subjects),
                ("clients", condition.clients, negated.clients), ("groups", condition.groups, negated.groups),
            ]
            for (name, outer, inner) in pairs where name == key {
                if let outer = values(outer), let inner = values(inner), outer.isSubset(of: inner) {
                    return "every value its \(name) accepts is excluded by its not"
                }
            }
        }
        return nil
    }
}

extension Condition {
    /// The keys written in this condition.
    var presentKeys: [String] {
        var keys: [String] = []
        if issuers != nil { keys.append("issuers") }
        if scopes != nil { keys.append("scopes") }
        if anyScopes != nil { keys.append("any_scopes") }
        if emails != nil { keys.append("emails") }
        if emailDomains != nil { keys.append("email_domains") }
        if subjects != nil { keys.append("subjects") }
        if clients != nil { keys.append("clients") }
        if groups != nil { keys.append("groups") }
        if claims != nil { keys.append("claims") }
        if not != nil { keys.append("not") }
        return keys
    }
}
