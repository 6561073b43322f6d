import Yams

/// The policy format: one YAML document per file with `version`, `issuers` and `servers`.
extension YAMLNodeReader {
    mutating func policyDocument(_ root: Node) -> (issuers: [IssuerConfig], servers: [ServerConfig]) {
        guard let fields = fields(root, what: "a policy file", allowed: PolicyKeys.document, required: PolicyKeys.documentRequired) else {
            return ([], [])
        }
        if let node = fields["version"], let version = int(node, what: "version", range: 0...Int.max), version != 1 {
            error("unsupported policy version \(version); this mcp-authz reads version 1", at: node)
        }
        var issuers: [IssuerConfig] = []
        if let node = fields["issuers"], let list = sequence(node, what: "issuers") {
            issuers = list.compactMap { issuer($0) }
        }
        var servers: [ServerConfig] = []
        if let node = fields["servers"], let list = sequence(node, what: "servers") {
            servers = list.compactMap { server($0) }
        }
        return (issuers, servers)
    }

    mutating func sequence(_ node: Node, what: String) -> [Node]? {
        guard case let .sequence(sequence) = node else {
            error("\(what) must be a list, found \(describe(node))", at: node)
            return nil
        }
        return Array(sequence)
    }

    // MARK: Issuers

    mutating func issuer(_ node: Node) -> IssuerConfig? {
        guard let fields = fields(node, what: "an issuer", allowed: PolicyKeys.issuer, required: PolicyKeys.issuerRequired),
            let id = fields["id"].flatMap({ identifier($0, what: "issuer id") })
        else { return nil }
        let issuerURL = fields["issuer"].flatMap { url($0, what: "issuer") }
        var config = IssuerConfig(
            id: id,
            issuer: issuerURL ?? Located("", at: fields.location),
            jwksURI: fields["jwks_uri"].flatMap { url($0, what: "jwks_uri") },
            jwksFile: fields["jwks_file"].flatMap { string($0, what: "jwks_file") },
            algorithms: IssuerConfig.defaultAlgorithms.map { Located($0, at: fields.location) },
            scopeClaims: IssuerConfig.defaultScopeClaims,
            emailClaim: IssuerConfig.defaultEmailClaim,
            requireEmailVerified: false,
            groupsClaim: IssuerConfig.defaultGroupsClaim,
            tokenHeader: nil,
            leewaySeconds: IssuerConfig.defaultLeewaySeconds,
            tokenTypes: [],
            authorizationServer: fields["authorization_server"].flatMap { url($0, what: "authorization_server") },
            location: fields.location
        )
        if config.jwksURI != nil, config.jwksFile != nil, let node = fields["jwks_file"] {
            error("issuer '\(id.value)' sets both jwks_uri and jwks_file; keep one", at: node)
        }
        if let node = fields["secret_file"], let file = string(node, what: "secret_file") {
            if config.jwksURI != nil || config.jwksFile != nil {
                error("issuer '\(id.value)' sets secret_file and public keys (jwks_uri or jwks_file); an issuer signs one way: keep one", at: node)
            }
            config.secretFile = file
            config.algorithms = IssuerConfig.defaultSharedSecretAlgorithms.map { Located($0, at: fields.location) }
        }
        if let node = fields["algorithms"], let list = stringList(node, what: "algorithms") {
            let shared = IssuerConfig.sharedSecretAlgorithms.map(\.name)
            for algorithm in list {
                if config.usesSharedSecret {
                    if !shared.contains(algorithm.value) {
                        error(
                            "issuer '\(id.value)' has a secret_file, so its algorithms are HS256, HS384 or HS512, not '\(algorithm.value)'",
                            at: algorithm.location)
                    }
                } else if !IssuerConfig.supportedAlgorithms.contains(algorithm.value) {
                    error(Self.algorithmProblem(algorithm.value), at: algorithm.location)
                }
            }
            config.algorithms = list
        }
        if let node = fields["scope_claims"], let list = stringList(node, what: "scope_claims") {
            config.scopeClaims = list.map(\.value)
        }
        if let node = fields["email_claim"], let value = string(node, what: "email_claim") { config.emailClaim = value.value }
        if let node = fields["groups_claim"], let value = string(node, what: "groups_claim") { config.groupsClaim = value.value }
        if let node = fields["require_email_verified"], let value = bool(node, what: "require_email_verified") {
            config.requireEmailVerified = value
        }
        if let node = fields["token_header"], let header = string(node, what: "token_header") {
            if header.value.utf8.allSatisfy(Self.isHeaderNameByte) {
                config.tokenHeader = header
            } else {
                error("token_header '\(header.value)' is not a valid HTTP header name", at: header.location)
            }
        }
        if let node = fields["leeway_seconds"], let value = int(node, what: "leeway_seconds", range: 0...600) {
            config.leewaySeconds = value
        }
        if let node = fields["token_types"], let list = stringList(node, what: "token_types") {
            config.tokenTypes = list.map(\.value)
        }
        if let node = fields["introspection"] {
            config.introspection = introspection(node)
            config.tokenFormat = .opaque
        }
        if let node = fields["token_format"], let text = string(node, what: "token_format") {
            let formats = TokenFormat.allCases.map(\.rawValue)
            if let format = TokenFormat(rawValue: text.value) {
                config.tokenFormat = format
                if format != .jwt, fields["introspection"] == nil {
                    error(
                        "token_format \(format.rawValue) needs introspection: { url, client_id, client_secret_file } on issuer '\(id.value)'",
                        at: node)
                }
            } else {
                error(
                    "token_format must be \(formats.joined(separator: ", ")), found '\(text.value)'\(Suggestion.hint(for: text.value, in: formats))",
                    at: node)
            }
        }
        if let node = fields["dpop"], let text = string(node, what: "dpop") {
            let modes = DPoPMode.allCases.map(\.rawValue)
            if let mode = DPoPMode(rawValue: text.value) {
                config.dpop = mode
            } else {
                error("dpop must be \(modes.joined(separator: ", ")), found '\(text.value)'\(Suggestion.hint(for: text.value, in: modes))", at: node)
            }
        }
        if config.tokenFormat == .opaque, let node = fields["jwks_uri"] ?? fields["jwks_file"] ?? fields["secret_file"] {
            error(
                "issuer '\(id.value)' introspects every token (token_format opaque), so it has no signing keys to set; use token_format both to verify its JWTs too",
                at: node)
        }
        return config
    }

    /// `introspection: { url, client_id, client_secret_file, auth }`.
    mutating func introspection(_ node: Node) -> IntrospectionConfig? {
        guard
            let fields = fields(
                node, what: "introspection", allowed: PolicyKeys.introspection, required: PolicyKeys.introspectionRequired),
            let url = fields["url"].flatMap({ url($0, what: "introspection url") }),
            let clientID = fields["client_id"].flatMap({ string($0, what: "client_id") }),
            let secretFile = fields["client_secret_file"].flatMap({ string($0, what: "client_secret_file") })
        else { return nil }
        var auth = IntrospectionConfig.ClientAuth.basic
        if let node = fields["auth"], let text = string(node, what: "auth") {
            let choices = IntrospectionConfig.ClientAuth.allCases.map(\.rawValue)
            if let chosen = IntrospectionConfig.ClientAuth(rawValue: text.value) {
                auth = chosen
            } else {
                error(
                    "auth must be \(choices.joined(separator: " or ")), found '\(text.value)'\(Suggestion.hint(for: text.value, in: choices))",
                    at: node)
            }
        }
        if clientID.value.isEmpty || clientID.value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            error("client_id must be a non-empty string without control characters", at: clientID.location)
        }
        return IntrospectionConfig(url: url, clientID: clientID.value, clientSecretFile: secretFile, auth: auth)
    }

    static func algorithmProblem(_ algorithm: String) -> String {
        let upper = algorithm.uppercased()
        if upper == "NONE" {
            return "algorithm 'none' means unsigned tokens and is never accepted"
        }
        if upper.hasPrefix("HS") {
            return "algorithm '\(algorithm)' is a shared-secret (HMAC) algorithm: only an issuer with secret_file (and no public keys) may use it"
        }
        return
            "unsupported algorithm '\(algorithm)'\(Suggestion.hint(for: algorithm, in: IssuerConfig.supportedAlgorithms)); supported: \(IssuerConfig.supportedAlgorithms.joined(separator: ", "))"
    }

    static func isHeaderNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Ids are referenced from other places, so they are kept to a plain, greppable alphabet.
    mutating func identifier(_ node: Node, what: String) -> Located<String>? {
        guard let value = string(node, what: what) else { return nil }
        let valid = value.value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
        guard valid else {
            error("\(what) '\(value.value)' may contain only letters, digits, '-', '_' and '.'", at: value.location)
            return nil
        }
        return value
    }

    /// An absolute `https` URL; plain `http` only for loopback hosts, which tests and demos use.
    mutating func url(_ node: Node, what: String) -> Located<String>? {
        guard let value = string(node, what: what) else { return nil }
        if let problem = URLRule.problem(value.value) {
            error("\(what) \(problem)", at: value.location)
            return nil
        }
        return value
    }

    // MARK: Servers

    mutating func server(_ node: Node) -> ServerConfig? {
        guard let fields = fields(node, what: "a server", allowed: PolicyKeys.server, required: PolicyKeys.serverRequired),
            let id = fields["id"].flatMap({ identifier($0, what: "server id") })
        else { return nil }
        var config = ServerConfig(
            id: id,
            match: ServerMatch(host: nil, pathPrefix: nil, location: fields.location),
            resource: fields["resource"].flatMap { url($0, what: "resource") },
            audiences: fields["audiences"].flatMap { stringList($0, what: "audiences") } ?? [],
            issuers: fields["issuers"].flatMap { stringList($0, what: "issuers") } ?? [],
            scopesSupported: fields["scopes_supported"].flatMap { stringList($0, what: "scopes_supported", allowEmpty: true) } ?? [],
            authorizationServers: [],
            rules: [],
            location: fields.location
        )
        if let node = fields["match"] { config.match = match(node) ?? config.match }
        if let node = fields["audit_arguments"] { config.auditArguments = bool(node, what: "audit_arguments") ?? false }
        config.catalogPath = fields["catalog"].flatMap { string($0, what: "catalog") }
        if let node = fields["pin_definitions"] {
            config.pinDefinitions = bool(node, what: "pin_definitions") ?? false
            if config.pinDefinitions, config.catalogPath == nil {
                error("pin_definitions needs the server's catalog: the definitions to pin", at: node)
            }
        }
        if let node = fields["allowed_origins"], let list = stringList(node, what: "allowed_origins") {
            config.allowedOrigins = list.compactMap { entry in
                guard let origin = ServerConfig.normalizedOrigin(entry.value) else {
                    error("allowed origin '\(entry.value)' is not an origin: scheme://host[:port], http or https, no path", at: entry.location)
                    return nil
                }
                return origin
            }
        }
        if let node = fields["resource_name"], let name = string(node, what: "resource_name") { config.resourceName = name.value }
        config.resourceDocumentation = fields["resource_documentation"].flatMap { url($0, what: "resource_documentation") }
        if let node = fields["authorization_servers"], let list = stringList(node, what: "authorization_servers") {
            config.authorizationServers = list.compactMap { entry in
                if let problem = URLRule.problem(entry.value) {
                    error("authorization server \(problem)", at: entry.location)
                    return nil
                }
                return entry
            }
        }
        if config.resource == nil, config.audiences.isEmpty, fields["resource"] == nil, fields["audiences"] == nil {
            error("server '\(id.value)' has neither resource nor audiences; tokens must be bound to it by 'aud'", at: node)
        }
        for scope in config.scopesSupported where !Self.isScopeToken(scope.value) {
            error("scope '\(scope.value)' may not contain spaces, quotes or backslashes", at: scope.location)
        }
        if let node = fields["rules"], let list = sequence(node, what: "rules") {
            if list.isEmpty { error("server '\(id.value)' has no rules, so every request would be denied", at: node) }
            config.rules = list.compactMap { rule($0) }
        }
        if let node = fields["limits"], let list = sequence(node, what: "limits") {
            if list.isEmpty { error("limits is an empty list; remove it or list limits", at: node) }
            config.limits = list.compactMap { limit($0) }
        }
        return config
    }

    // MARK: Limits

    /// The largest rate accepted: beyond it a limit limits nothing a sidecar could serve.
    static let maxRatePerSecond = 1_000_000.0
    static let maxBurst = 1_000_000
    static let maxQuota = 1_000_000_000

    mutating func limit(_ node: Node) -> RateLimit? {
        guard let fields = fields(node, what: "a limit", allowed: PolicyKeys.limit, required: PolicyKeys.limitRequired),
            let name = fields["name"].flatMap({ string($0, what: "limit name") })
        else { return nil }
        // Named as is in the X-Authz-Limit header and in the JSON bodies proxies answer (nginx
        // cannot escape text): printable ASCII, no quote or backslash.
        if !name.value.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) && $0 != "\"" && $0 != "\\" }) {
            error(
                "limit name '\(name.value)' may hold printable ASCII only, without quotes or backslashes (it is sent in a header)", at: name.location)
        }
        var parts: [RateLimit.KeyPart] = []
        if let keyNode = fields["key"], let list = stringList(keyNode, what: "key") {
            for entry in list {
                guard let part = RateLimit.KeyPart(entry.value) else {
                    error(
                        "unknown key kind '\(entry.value)' in limit '\(name.value)'; kinds: \(RateLimit.KeyPart.names.joined(separator: ", "))"
                            + Suggestion.hint(for: entry.value, in: RateLimit.KeyPart.names.dropLast()),
                        at: entry.location
                    )
                    continue
                }
                if parts.contains(part) {
                    error("key kind '\(entry.value)' appears twice in limit '\(name.value)'", at: entry.location)
                    continue
                }
                parts.append(part)
            }
        }
        var limit = RateLimit(name: name, key: parts, location: fields.location)
        limit.condition = fields["when"].flatMap { condition($0, depth: 0) }
        if let node = fields["applies_to"] {
            guard let targets = targets(node, what: "applies_to") else {
                if node.mapping?.isEmpty == true { return nil }
                return nil
            }
            limit.appliesTo = targets
        }
        if let node = fields["rate"], let text = string(node, what: "rate") {
            guard let rate = RateLimit.Rate(text.value) else {
                error("rate must be N/s, N/min or N/h (such as 10/s), found '\(text.value)'", at: node)
                return nil
            }
            guard rate.count > 0 else {
                error("rate \(text.value) lets nothing through; to refuse, write a deny rule", at: node)
                return nil
            }
            guard rate.perSecond <= Self.maxRatePerSecond else {
                error("rate \(text.value) is more than \(Int(Self.maxRatePerSecond))/s, which limits nothing", at: node)
                return nil
            }
            limit.rate = rate
        }
        if let node = fields["burst"] {
            guard let burst = int(node, what: "burst", range: 1...Self.maxBurst) else { return nil }
            if limit.rate == nil { error("burst needs a rate", at: node) }
            limit.burst = burst
        }
        if let node = fields["quota"], let text = string(node, what: "quota") {
            let parts = text.value.split(separator: "/")
            guard parts.count == 2, String(parts[1].filter { !$0.isWhitespace }) == "day",
                let count = Int(String(parts[0].filter { !$0.isWhitespace }))
            else {
                error("quota must be N/day (a calendar day in UTC), found '\(text.value)'", at: node)
                return nil
            }
            guard (1...Self.maxQuota).contains(count) else {
                error("quota \(text.value) must allow between 1 and \(Self.maxQuota) a day", at: node)
                return nil
            }
            limit.quota = count
        }
        if limit.rate == nil, limit.quota == nil {
            error("limit '\(name.value)' has neither rate nor quota, so it limits nothing", at: node)
            return nil
        }
        return limit
    }

    /// RFC 6749 scope-token characters, so a scope can be quoted in `WWW-Authenticate` safely.
    static func isScopeToken(_ scope: String) -> Bool {
        scope.unicodeScalars.allSatisfy { $0.value == 0x21 || (0x23...0x5B).contains($0.value) || (0x5D...0x7E).contains($0.value) }
    }

    mutating func match(_ node: Node) -> ServerMatch? {
        guard let fields = fields(node, what: "match", allowed: PolicyKeys.match) else { return nil }
        var match = ServerMatch(host: nil, pathPrefix: nil, location: fields.location)
        if let node = fields["host"], let host = string(node, what: "match host") {
            let normalized = host.value.asciiLowercased()
            if normalized.contains("/") || normalized.contains("*")
                || normalized.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7F })
            {
                error("match host '\(host.value)' must be a plain host name, optionally with a port", at: host.location)
            } else {
                match.host = Located(normalized, at: host.location)
            }
        }
        if let node = fields["path_prefix"], let prefix = string(node, what: "path_prefix") {
            if !prefix.value.hasPrefix("/") {
                error("path_prefix '\(prefix.value)' must start with '/'", at: prefix.location)
            } else if prefix.value.contains("?") || prefix.value.contains("#") || prefix.value.split(separator: "/").contains("..") {
                error("path_prefix '\(prefix.value)' must be a plain path without '?', '#' or '..'", at: prefix.location)
            } else {
                match.pathPrefix = prefix
            }
        }
        return match
    }

    // MARK: Rules

    mutating func rule(_ node: Node) -> Rule? {
        guard let fields = fields(node, what: "a rule", allowed: PolicyKeys.rule, required: PolicyKeys.ruleRequired),
            let name = fields["name"].flatMap({ string($0, what: "rule name") })
        else { return nil }
        let allow = fields["allow"]
        let deny = fields["deny"]
        let effect: Rule.Effect
        let targetsNode: Node
        switch (allow, deny) {
        case let (allow?, nil):
            effect = .allow
            targetsNode = allow
        case let (nil, deny?):
            effect = .deny
            targetsNode = deny
        case (_?, _?):
            error("rule '\(name.value)' has both allow and deny; split it into two rules", at: node)
            return nil
        case (nil, nil):
            // The usual slip: `allow:` indented under `when:`, where it reads as a condition.
            if let when = fields["when"]?.mapping,
                let slipped = when.first(where: { key, _ in key.string == "allow" || key.string == "deny" })?.key
            {
                error(
                    "rule '\(name.value)' has neither allow nor deny: '\(slipped.string ?? "allow")' (line \(location(of: slipped).line)) is indented under 'when'; indent it as deep as 'when'",
                    at: node
                )
                return nil
            }
            error("rule '\(name.value)' has neither allow nor deny", at: node)
            return nil
        }
        let condition = fields["when"].flatMap { self.condition($0, depth: 0) }
        guard let targets = self.targets(targetsNode, effect: effect) else { return nil }
        var rule = Rule(name: name, effect: effect, condition: condition, targets: targets, location: fields.location)
        if let node = fields["mode"], let text = string(node, what: "mode") {
            guard let mode = Rule.Mode(rawValue: text.value) else {
                let modes = Rule.Mode.allCases.map(\.rawValue)
                error(
                    "mode must be \(modes.joined(separator: " or ")), found '\(text.value)'\(Suggestion.hint(for: text.value, in: modes))", at: node)
                return nil
            }
            rule.mode = mode
        }
        return rule
    }

    mutating func condition(_ node: Node, depth: Int) -> Condition? {
        guard depth < 8 else {
            error("'not' is nested more than 8 levels deep", at: node)
            return nil
        }
        let what = depth == 0 ? "when" : "not"
        guard let fields = fields(node, what: what, allowed: PolicyKeys.condition) else { return nil }
        if fields.entries.isEmpty {
            // A mapping holding only unknown keys was reported already.
            if node.mapping?.isEmpty == true { error("\(what) is empty; remove it, or list conditions", at: node) }
            return nil
        }
        var condition = Condition(location: fields.location)
        condition.issuers = fields["issuers"].flatMap { stringList($0, what: "issuers") }
        condition.scopes = fields["scopes"].flatMap { stringList($0, what: "scopes") }
        condition.anyScopes = fields["any_scopes"].flatMap { stringList($0, what: "any_scopes") }
        condition.subjects = fields["subjects"].flatMap { stringList($0, what: "subjects") }
        condition.clients = fields["clients"].flatMap { stringList($0, what: "clients") }
        condition.groups = fields["groups"].flatMap { stringList($0, what: "groups") }
        if let list = fields["emails"].flatMap({ stringList($0, what: "emails") }) {
            condition.emails = list.compactMap { entry in
                guard let normalized = EmailAddress.normalized(entry.value) else {
                    error("'\(entry.value)' is not an email address", at: entry.location)
                    return nil
                }
                return Located(normalized, at: entry.location)
            }
        }
        if let list = fields["email_domains"].flatMap({ stringList($0, what: "email_domains") }) {
            condition.emailDomains = list.compactMap { entry in
                let domain = entry.value.asciiLowercased()
                if domain.contains("@") || domain.hasPrefix(".") || domain.contains("*") || domain.contains(" ") {
                    error("email domain '\(entry.value)' must be a plain domain such as example.com", at: entry.location)
                    return nil
                }
                return Located(domain, at: entry.location)
            }
        }
        if let node = fields["claims"], let claimFields = self.claimFields(node) {
            condition.claims = claimFields
        }
        if let node = fields["arguments"], let arguments = self.argumentConditions(node) {
            condition.arguments = arguments
        }
        if let node = fields["not"], let negated = self.condition(node, depth: depth + 1) {
            condition.not = Box(negated)
        }
        return condition
    }

    mutating func claimFields(_ node: Node) -> [ClaimCondition]? {
        guard case let .mapping(mapping) = node else {
            error("claims must be a mapping of claim path to value, found \(describe(node))", at: node)
            return nil
        }
        if mapping.isEmpty {
            error("claims is empty; remove it, or list claim paths", at: node)
            return nil
        }
        var result: [ClaimCondition] = []
        for (keyNode, valueNode) in mapping {
            guard let path = string(keyNode, what: "a claim path"), let value = claimValue(valueNode, what: "claim '\(keyNode.string ?? "")'") else {
                continue
            }
            let values: [ClaimValue]
            if case let .array(items) = value {
                if items.isEmpty {
                    error("claim '\(path.value)' lists no values, so it can never match", at: valueNode)
                    continue
                }
                values = items
            } else {
                values = [value]
            }
            result.append(ClaimCondition(path: path, values: values))
        }
        return result
    }

    // MARK: Arguments

    /// `arguments: { path: matcher }`.
    mutating func argumentConditions(_ node: Node) -> [ArgumentCondition]? {
        guard case let .mapping(mapping) = node else {
            error("arguments must be a mapping of argument path to matcher, found \(describe(node))", at: node)
            return nil
        }
        if mapping.isEmpty {
            error("arguments is empty; remove it, or list argument paths", at: node)
            return nil
        }
        var result: [ArgumentCondition] = []
        for (keyNode, valueNode) in mapping {
            guard let path = string(keyNode, what: "an argument path") else { continue }
            guard !path.value.isEmpty else {
                error("an argument path is empty", at: keyNode)
                continue
            }
            if let matcher = argumentMatcher(valueNode, path: path.value) {
                result.append(ArgumentCondition(path: path, matcher: matcher))
            }
        }
        return result.isEmpty ? nil : result
    }

    /// A matcher: a pattern (string), a typed literal (number, boolean), a list (any of), or a
    /// map of tests that must all hold.
    mutating func argumentMatcher(_ node: Node, path: String) -> ArgumentMatcher? {
        let what = "argument '\(path)'"
        switch node {
        case .scalar:
            return argumentLiteral(node, what: what, stringsArePatterns: true)
        case let .sequence(sequence):
            guard !sequence.isEmpty else {
                error("\(what) lists no values, so it can never match", at: node)
                return nil
            }
            let matchers = sequence.compactMap { argumentLiteral($0, what: what, stringsArePatterns: true) }
            return matchers.count == sequence.count ? .anyOf(matchers) : nil
        case .mapping:
            return argumentTests(node, what: what)
        case .alias:
            error("\(what) must be a value, a list or a mapping of tests, found \(describe(node))", at: node)
            return nil
        }
    }

    /// A string (a pattern where `stringsArePatterns`), a number or a boolean.
    private mutating func argumentLiteral(_ node: Node, what: String, stringsArePatterns: Bool) -> ArgumentMatcher? {
        guard case .scalar = node, let value = claimValue(node, what: what) else {
            if case .scalar = node {} else { error("\(what): expected a string, a number or a boolean, found \(describe(node))", at: node) }
            return nil
        }
        switch value {
        case let .string(string) where stringsArePatterns:
            if let problem = Glob.problem(in: string) {
                error("bad pattern '\(string)' in \(what): \(problem)", at: node)
                return nil
            }
            return .pattern(Glob(string))
        case .string, .integer, .bool:
            return .equals(value)
        case let .number(number) where number.isFinite:
            return .equals(value)
        default:
            error("\(what): expected a string, a number or a boolean, found \(value)", at: node)
            return nil
        }
    }

    /// The map form: `equals`, `one_of`, `pattern`, `min`, `max`, `max_length`, `present`, `claim`.
    private mutating func argumentTests(_ node: Node, what: String) -> ArgumentMatcher? {
        guard let fields = fields(node, what: what, allowed: PolicyKeys.argumentMatcher) else { return nil }
        guard !fields.entries.isEmpty else {
            if node.mapping?.isEmpty == true { error("\(what) has no tests; give a value or tests such as max: 100", at: node) }
            return nil
        }
        var tests: [ArgumentMatcher] = []
        var bounds: (min: Double?, max: Double?) = (nil, nil)
        var valid = true
        for (key, value) in fields.entries {
            let test: ArgumentMatcher?
            switch key.value {
            case "equals":
                test = argumentLiteral(value, what: "\(what) equals", stringsArePatterns: false)
            case "one_of":
                guard case let .sequence(sequence) = value, !sequence.isEmpty else {
                    error("\(what) one_of must be a non-empty list of values", at: value)
                    test = nil
                    break
                }
                var values: [ClaimValue] = []
                for item in sequence {
                    if case let .equals(value)? = argumentLiteral(item, what: "\(what) one_of", stringsArePatterns: false) { values.append(value) }
                }
                test = values.count == sequence.count ? .oneOf(values) : nil
            case "pattern":
                test = string(value, what: "\(what) pattern").flatMap { pattern in
                    guard let problem = Glob.problem(in: pattern.value) else { return .pattern(Glob(pattern.value)) }
                    error("bad pattern '\(pattern.value)' in \(what): \(problem)", at: value)
                    return nil
                }
            case "min", "max":
                guard let bound = finiteNumber(value) else {
                    error("\(what) \(key.value) must be a number, found \(describe(value))", at: value)
                    test = nil
                    break
                }
                if key.value == "min" { bounds.min = bound } else { bounds.max = bound }
                test = key.value == "min" ? .min(bound) : .max(bound)
            case "max_length":
                test = int(value, what: "\(what) max_length", range: 0...Int(Int32.max)).map(ArgumentMatcher.maxLength)
            case "present":
                test = bool(value, what: "\(what) present").map(ArgumentMatcher.present)
            default:  // "claim"
                test = string(value, what: "\(what) claim").map { .claim($0.value) }
            }
            guard let test else {
                valid = false
                continue
            }
            tests.append(test)
        }
        guard valid else { return nil }
        if let low = bounds.min, let high = bounds.max, low > high {
            error("\(what) has min \(low) above max \(high), so it can never hold", at: node)
            return nil
        }
        let absentOnly = tests.contains { if case .present(false) = $0 { true } else { false } }
        if absentOnly, tests.count > 1 {
            error("\(what) has present: false with other tests, which an absent argument never passes; it can never hold", at: node)
            return nil
        }
        return tests.count == 1 ? tests[0] : .all(tests)
    }

    private func finiteNumber(_ node: Node) -> Double? {
        guard case .scalar = node else { return nil }
        switch node.resolvedTagName {
        case .int: return node.int.map(Double.init)
        case .float: return node.float.flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    mutating func targets(_ node: Node, effect: Rule.Effect) -> Targets? {
        targets(node, what: effect.rawValue)
    }

    mutating func targets(_ node: Node, what: String) -> Targets? {
        guard let fields = fields(node, what: what, allowed: PolicyKeys.targets) else { return nil }
        if fields.entries.isEmpty {
            if node.mapping?.isEmpty == true { error("\(what) names nothing; list methods, tools, prompts or resources", at: node) }
            return nil
        }
        var targets = Targets(location: fields.location)
        targets.methods = fields["methods"].flatMap { globs($0, what: "methods") }
        targets.tools = fields["tools"].flatMap { globs($0, what: "tools") }
        targets.prompts = fields["prompts"].flatMap { globs($0, what: "prompts") }
        targets.resources = fields["resources"].flatMap { globs($0, what: "resources") }
        if let node = fields["annotations"] {
            guard case let .mapping(mapping) = node, !mapping.isEmpty else {
                error("annotations must be a mapping of annotation name to value, such as { destructiveHint: true }", at: node)
                return targets
            }
            targets.annotations = mapping.compactMap { keyNode, valueNode in
                guard let key = string(keyNode, what: "an annotation name"),
                    let value = claimValue(valueNode, what: "annotation '\(key.value)'")
                else { return nil }
                return AnnotationMatch(key: key, value: value)
            }
        }
        for method in targets.methods ?? [] where !Glob.hasWildcard(method.value) && !MCPMethod.known.contains(method.value) {
            warning(
                "'\(method.value)' is not an MCP method this version knows\(Suggestion.hint(for: method.value, in: MCPMethod.known))",
                at: method.location
            )
        }
        return targets
    }

    mutating func globs(_ node: Node, what: String) -> [Located<String>]? {
        guard let list = stringList(node, what: what) else { return nil }
        return list.filter { entry in
            if let problem = Glob.problem(in: entry.value) {
                error("bad pattern '\(entry.value)' in \(what): \(problem)", at: entry.location)
                return false
            }
            return true
        }
    }
}

extension Condition {
    init(location: SourceLocation) {
        self.init(
            issuers: nil, scopes: nil, anyScopes: nil, emails: nil, emailDomains: nil, subjects: nil,
            clients: nil, groups: nil, claims: nil, not: nil, location: location
        )
    }
}

extension Targets {
    init(location: SourceLocation) {
        self.init(methods: nil, tools: nil, prompts: nil, resources: nil, location: location)
    }
}
