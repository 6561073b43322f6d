import ArgumentParser
import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzServer
import MCPAuthzTokens
import NIOCore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the authorization sidecar.",
        discussion: """
            Serves forward auth for nginx auth_request, Traefik ForwardAuth and Envoy ext_authz at /auth, \
            the decision API at /v1/decide and /v1/filter, RFC 9728 metadata at \
            /.well-known/oauth-protected-resource[/path], and /healthz, /readyz, /metrics.

            Every option can also be set by the environment variable named in its help; a flag wins \
            over the variable. The policy is validated before the sidecar starts (an invalid one exits 1 \
            with every problem as file:line:column), reloaded when its files change and on SIGHUP \
            (an invalid reload keeps the policy in force), and SIGTERM or SIGINT drain in-flight \
            requests before exit.
            """
    )

    @Option(name: .customLong("policies"), help: "Policy file or folder of *.yaml files. [env: MCP_AUTHZ_POLICIES]")
    var policies: String?

    @Option(
        name: .customLong("shadow-policies"),
        help: """
            A second policy file or folder, decided beside the first on every request and never changing an answer: its \
            verdict goes to the audit record ('shadow'), the mcp_authz_shadow_decisions_total metric and /v1/decide. \
            [env: MCP_AUTHZ_SHADOW_POLICIES]
            """
    )
    var shadowPolicies: String?

    @Option(help: "Address to listen on: HOST:PORT, [IPv6]:PORT or unix:PATH. [env: MCP_AUTHZ_LISTEN] (default: 127.0.0.1:9090)")
    var listen: String?

    @Option(help: "Seconds between checks of the policy files for changes; 0 turns the watch off. [env: MCP_AUTHZ_WATCH_INTERVAL] (default: 2)")
    var watchInterval: Double?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [env: MCP_AUTHZ_LOG_LEVEL] (default: info)")
    var logLevel: String?

    @Option(
        help: """
            Audit log destination: a file (created 0600, reopened on SIGUSR1), '-' for stdout, or 'none'. \
            Repeat for several. [env: MCP_AUTHZ_AUDIT, comma-separated] (default: -)
            """
    )
    var audit: [String] = []

    @Option(
        help: """
            When audit records cannot be written: 'deny' every request until they can, or 'continue' deciding. \
            [env: MCP_AUTHZ_AUDIT_FAILURE] (default: deny)
            """
    )
    var auditFailure: String?

    @Option(
        help: """
            When an answer may go: 'queued' (its audit record is queued for the writer), 'written' (the record was \
            handed to the kernel for every destination: a killed process loses no answered decision) or 'synced' \
            (and every audit file is on disk). [env: MCP_AUTHZ_AUDIT_DURABILITY] (default: \(AuditSettings().durability.rawValue))
            """
    )
    var auditDurability: String?

    @Option(help: "Audit records buffered for the writer; requests wait when it is full. [env: MCP_AUTHZ_AUDIT_BUFFER] (default: 65536)")
    var auditBuffer: Int?

    @Option(
        help: """
            Seconds an audit write may make no progress (a stdout pipe nobody reads, a hung disk) before it counts as \
            failed. [env: MCP_AUTHZ_AUDIT_STALL_TIMEOUT] (default: 2)
            """
    )
    var auditStallTimeout: Double?

    @Option(
        help: """
            An Ed25519 private key (PEM or JWK; make one with `mcp-authz audit keygen`) that signs checkpoints of the \
            audit chain, for `mcp-authz audit verify --public-key`. [env: MCP_AUTHZ_AUDIT_SIGNING_KEY]
            """
    )
    var auditSigningKey: String?

    @Option(help: "A signed checkpoint after this many records. [env: MCP_AUTHZ_AUDIT_CHECKPOINT_RECORDS] (default: 1000)")
    var auditCheckpointRecords: Int?

    @Option(
        help: "Seconds after which a checkpoint is signed when records came since the last. [env: MCP_AUTHZ_AUDIT_CHECKPOINT_INTERVAL] (default: 60)"
    )
    var auditCheckpointInterval: Double?

    @OptionGroup var limits: ServerLimitOptions

    func run() async throws {
        EventLoops.configure()
        let environment = ProcessInfo.processInfo.environment
        let level = try Self.value(
            logLevel, "MCP_AUTHZ_LOG_LEVEL", environment, default: "info", expected: "trace, debug, info, notice, warning, error or critical"
        ) { Logger.Level(rawValue: $0) }
        let logger = Self.logger(level: level)
        guard let policyPath = policies ?? environment["MCP_AUTHZ_POLICIES"] else {
            throw ValidationError("give the policy path with --policies or MCP_AUTHZ_POLICIES")
        }
        var settings = try limits.settings(policyPath: policyPath, environment: environment)
        settings.listen = try Self.value(
            listen, "MCP_AUTHZ_LISTEN", environment, default: "127.0.0.1:9090", expected: "HOST:PORT, [IPv6]:PORT or unix:PATH (e.g. 127.0.0.1:9090)"
        ) { ListenAddress($0) }
        let interval = try Self.value(
            watchInterval.map { String($0) }, "MCP_AUTHZ_WATCH_INTERVAL", environment, default: "2", expected: "seconds, 0 or more"
        ) {
            Double($0).flatMap { $0 >= 0 ? $0 : nil }
        }
        settings.watchInterval = interval == 0 ? nil : .milliseconds(Int64(interval * 1000))
        settings.audit = try auditSettings(environment)
        settings.shadowPolicyPath = shadowPolicies ?? environment["MCP_AUTHZ_SHADOW_POLICIES"]
        // A closed stdout (the audit log's reader went away) must fail a write, not kill us.
        signal(SIGPIPE, SIG_IGN)
        let sidecar: Sidecar
        do {
            sidecar = try Sidecar.build(
                settings: settings, logger: logger,
                onServerRunning: { channel in
                    logger.info("listening", metadata: ["http.address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                }
            )
        } catch {
            switch error {
            case let .policy(error):
                report(error.diagnostics)
                printError(
                    "\(policyPath): invalid: \(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s"); not starting"
                )
            case let .audit(error):
                printError("audit log: \(error.message); not starting")
            case let .shadowPolicy(error):
                report(error.diagnostics)
                let problems = "\(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s")"
                printError("\(settings.shadowPolicyPath ?? "-"): shadow policy invalid: \(problems); not starting")
            }
            throw ExitCode(1)
        }
        do {
            try await sidecar.run()
        } catch let error as SidecarListenError {
            printError("\(error.message); not starting")
            throw ExitCode(1)
        }
    }

    func auditSettings(_ environment: [String: String]) throws -> AuditSettings {
        var settings = AuditSettings()
        let destinations =
            !audit.isEmpty ? audit : environment["MCP_AUTHZ_AUDIT"].map { $0.split(separator: ",").map(String.init) } ?? ["-"]
        settings.destinations = try destinations.compactMap { destination -> AuditDestination? in
            switch destination {
            case "none": return nil
            case "-": return .standardOutput
            case "": throw ValidationError("empty audit destination")
            default: return .file(destination)
            }
        }
        if destinations.contains("none") && destinations.count > 1 {
            throw ValidationError("audit destination 'none' cannot be combined with others")
        }
        settings.failClosed = try Self.value(auditFailure, "MCP_AUTHZ_AUDIT_FAILURE", environment, default: "deny", expected: "deny or continue") {
            text -> Bool? in
            switch text {
            case "deny": true
            case "continue": false
            default: nil
            }
        }
        settings.durability = try Self.value(
            auditDurability, "MCP_AUTHZ_AUDIT_DURABILITY", environment, default: settings.durability.rawValue,
            expected: "queued, written or synced", parse: AuditDurability.init(rawValue:)
        )
        settings.bufferCapacity = try Self.value(
            auditBuffer.map { String($0) }, "MCP_AUTHZ_AUDIT_BUFFER", environment, default: "65536", expected: "a whole number above 0"
        ) {
            Int($0).flatMap { $0 > 0 ? $0 : nil }
        }
        let stall = try Self.value(
            auditStallTimeout.map { String($0) }, "MCP_AUTHZ_AUDIT_STALL_TIMEOUT", environment, default: "2",
            expected: "seconds, above 0 and at most 3600"
        ) {
            Double($0).flatMap { $0 > 0 && $0 <= 3600 ? $0 : nil }
        }
        settings.stallTimeout = .milliseconds(Int64(stall * 1000))
        if let file = auditSigningKey ?? environment["MCP_AUTHZ_AUDIT_SIGNING_KEY"] {
            do throws(AuditCheckpoint.KeyError) {
                settings.signingKey = try AuditCheckpoint.signingKey(file: file)
            } catch {
                throw ValidationError("--audit-signing-key: \(error.description)")
            }
        }
        settings.checkpointRecords = try Self.value(
            auditCheckpointRecords.map { String($0) }, "MCP_AUTHZ_AUDIT_CHECKPOINT_RECORDS", environment, default: "1000",
            expected: "a whole number above 0"
        ) {
            Int($0).flatMap { $0 > 0 ? $0 : nil }
        }
        let interval = try Self.value(
            auditCheckpointInterval.map { String($0) }, "MCP_AUTHZ_AUDIT_CHECKPOINT_INTERVAL", environment, default: "60",
            expected: "seconds, above 0"
        ) {
            Double($0).flatMap { $0 > 0 ? $0 : nil }
        }
        settings.checkpointInterval = .milliseconds(Int64(interval * 1000))
        return settings
    }

    static func logger(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "mcp-authz")
        logger.logLevel = level
        return logger
    }

    /// A flag's value, else the environment variable's, else the default, parsed; a value that
    /// does not parse is an error naming the option, where the value came from, and the form
    /// expected: `--listen: invalid value '9090' (given as the option): expected HOST:PORT, ...`.
    static func value<T>(
        _ flag: String?, _ variable: String, _ environment: [String: String], default fallback: String, expected: String,
        parse: (String) -> T?
    ) throws -> T {
        let (text, source) =
            if let flag { (flag, "given as the option") } else if let env = environment[variable] {
                (env, "from \(variable)")
            } else { (fallback, "the default") }
        guard let value = parse(text) else {
            throw ValidationError("\(option(for: variable)): invalid value '\(text)' (\(source)): expected \(expected)")
        }
        return value
    }

    /// The flag an `MCP_AUTHZ_*` variable stands for: `MCP_AUTHZ_MAX_BODY_BYTES` is `--max-body-bytes`.
    static func option(for variable: String) -> String {
        "--" + variable.dropFirst("MCP_AUTHZ_".count).lowercased().replacingOccurrences(of: "_", with: "-")
    }
}

/// Bounds and caches of the sidecar, each with a flag and an environment variable.
struct ServerLimitOptions: ParsableArguments {
    @Option(help: "Largest request body read for a decision, in bytes. [env: MCP_AUTHZ_MAX_BODY_BYTES] (default: 1048576)")
    var maxBodyBytes: Int?

    @Option(help: "Most messages in one JSON-RPC batch. [env: MCP_AUTHZ_MAX_BATCH] (default: 100)")
    var maxBatch: Int?

    @Option(help: "Deepest JSON nesting read in a body. [env: MCP_AUTHZ_MAX_JSON_DEPTH] (default: 64)")
    var maxJSONDepth: Int?

    @Option(help: "Largest bearer token accepted, in bytes. [env: MCP_AUTHZ_MAX_TOKEN_BYTES] (default: 16384)")
    var maxTokenBytes: Int?

    @Option(help: "Largest total size of request headers, in bytes. [env: MCP_AUTHZ_MAX_HEADER_BYTES] (default: 65536)")
    var maxHeaderBytes: Int?

    @Option(help: "Largest policy file accepted, in bytes. [env: MCP_AUTHZ_MAX_POLICY_BYTES] (default: 8388608)")
    var maxPolicyBytes: Int?

    @Option(help: "Most names in one /v1/filter list. [env: MCP_AUTHZ_MAX_FILTER_NAMES] (default: 10000)")
    var maxFilterNames: Int?

    @Option(
        help: """
            Requests one connection may have waiting for answers; past it mcp-authz stops reading from that connection \
            until answers are taken. [env: MCP_AUTHZ_MAX_PIPELINED] (default: 16)
            """
    )
    var maxPipelined: Int?

    @Option(
        help: """
            Most keys the policy's limits keep state for; past it the least recently used is dropped (its next request \
            starts with a full bucket). [env: MCP_AUTHZ_MAX_LIMIT_KEYS] (default: 100000)
            """
    )
    var maxLimitKeys: Int?

    @Option(
        help: """
            The request header the proxy puts the client's address in, for limits keyed by client_ip; only as \
            trustworthy as the proxy that sets it. [env: MCP_AUTHZ_CLIENT_IP_HEADER] (default: X-Real-IP)
            """
    )
    var clientIPHeader: String?

    @Option(help: "Verified tokens kept until they expire. [env: MCP_AUTHZ_TOKEN_CACHE_SIZE] (default: 10000)")
    var tokenCacheSize: Int?

    @Option(help: "Seconds allowed for one discovery or JWKS fetch. [env: MCP_AUTHZ_JWKS_FETCH_TIMEOUT] (default: 5)")
    var jwksFetchTimeout: Double?

    @Option(help: "Seconds between refreshes caused by unknown key ids, per issuer. [env: MCP_AUTHZ_JWKS_MIN_REFRESH_INTERVAL] (default: 30)")
    var jwksMinRefreshInterval: Double?

    @Option(help: "Seconds between JWKS refreshes when the response gives no max-age. [env: MCP_AUTHZ_JWKS_REFRESH_INTERVAL] (default: 300)")
    var jwksRefreshInterval: Double?

    @Option(help: "Seconds last good keys keep serving while refreshes fail. [env: MCP_AUTHZ_JWKS_MAX_STALE] (default: 86400)")
    var jwksMaxStale: Double?

    @Option(help: "Largest discovery or JWKS document read, in bytes. [env: MCP_AUTHZ_JWKS_MAX_BYTES] (default: 524288)")
    var jwksMaxBytes: Int?

    @Option(help: "Most keys read from one JWKS; a larger set is refused whole. [env: MCP_AUTHZ_JWKS_MAX_KEYS] (default: 100)")
    var jwksMaxKeys: Int?

    @Option(
        help: """
            Longest, in seconds, an introspection answer that a token is active is trusted (never past the token's exp); a \
            token revoked at its issuer stops working within this time. [env: MCP_AUTHZ_INTROSPECTION_CACHE_TTL] (default: 60)
            """
    )
    var introspectionCacheTTL: Double?

    @Option(help: "Seconds allowed for one call to an introspection endpoint. [env: MCP_AUTHZ_INTROSPECTION_TIMEOUT] (default: 5)")
    var introspectionTimeout: Double?

    @Option(
        help: """
            Seconds a DPoP proof stays acceptable after its iat (a proof from the future is allowed the issuer's leeway). \
            [env: MCP_AUTHZ_DPOP_MAX_AGE] (default: 60)
            """
    )
    var dpopMaxAge: Double?

    @Option(
        help: """
            DPoP proof ids remembered to refuse replays, per replica; when full, new proofs are refused rather than an id \
            forgotten early. [env: MCP_AUTHZ_DPOP_REPLAY_CACHE_SIZE] (default: 100000)
            """
    )
    var dpopReplayCacheSize: Int?

    @Flag(
        help: """
            Let an AuthZEN evaluation without context.token take its caller from subject.properties as given. Only behind \
            an enforcement point that vouches for them; every such decision says so in its audit record. \
            [env: MCP_AUTHZ_AUTHZEN_TRUST_SUBJECT_PROPERTIES=true]
            """
    )
    var authzenTrustSubjectProperties = false

    @Option(
        name: .customLong("authzen-pdp-url"),
        help: """
            The AuthZEN policy_decision_point its metadata names (https; the endpoints are this plus /access/v1/…); \
            default: the scheme and host each request came with. [env: MCP_AUTHZ_AUTHZEN_PDP_URL]
            """
    )
    var authzenPDPURL: String?

    func settings(policyPath: String, environment: [String: String]) throws -> SidecarSettings {
        var settings = SidecarSettings(policyPath: policyPath)
        func positive(_ flag: Int?, _ variable: String, _ fallback: Int) throws -> Int {
            try ServeCommand.value(flag.map { String($0) }, variable, environment, default: String(fallback), expected: "a whole number above 0") {
                Int($0).flatMap { $0 > 0 ? $0 : nil }
            }
        }
        func seconds(_ flag: Double?, _ variable: String, _ fallback: Duration) throws -> Duration {
            let value = try ServeCommand.value(
                flag.map { String($0) }, variable, environment, default: "\(fallback.components.seconds)", expected: "seconds, above 0"
            ) {
                Double($0).flatMap { $0 > 0 ? $0 : nil }
            }
            return .milliseconds(Int64(value * 1000))
        }
        settings.body.maxBytes = try positive(maxBodyBytes, "MCP_AUTHZ_MAX_BODY_BYTES", settings.body.maxBytes)
        settings.body.maxBatch = try positive(maxBatch, "MCP_AUTHZ_MAX_BATCH", settings.body.maxBatch)
        settings.body.maxDepth = try positive(maxJSONDepth, "MCP_AUTHZ_MAX_JSON_DEPTH", settings.body.maxDepth)
        settings.maxTokenBytes = try positive(maxTokenBytes, "MCP_AUTHZ_MAX_TOKEN_BYTES", settings.maxTokenBytes)
        settings.maxHeaderBytes = try positive(maxHeaderBytes, "MCP_AUTHZ_MAX_HEADER_BYTES", settings.maxHeaderBytes)
        settings.policyLimits.maxFileBytes = try positive(maxPolicyBytes, "MCP_AUTHZ_MAX_POLICY_BYTES", settings.policyLimits.maxFileBytes)
        settings.maxFilterNames = try positive(maxFilterNames, "MCP_AUTHZ_MAX_FILTER_NAMES", settings.maxFilterNames)
        settings.maxPipelined = try positive(maxPipelined, "MCP_AUTHZ_MAX_PIPELINED", settings.maxPipelined)
        settings.tokenCacheCapacity = try positive(tokenCacheSize, "MCP_AUTHZ_TOKEN_CACHE_SIZE", settings.tokenCacheCapacity)
        settings.maxLimitKeys = try positive(maxLimitKeys, "MCP_AUTHZ_MAX_LIMIT_KEYS", settings.maxLimitKeys)
        settings.clientIPHeader = try ServeCommand.value(
            clientIPHeader, "MCP_AUTHZ_CLIENT_IP_HEADER", environment, default: settings.clientIPHeader, expected: "a header name such as X-Real-IP"
        ) { name in
            // An RFC 9110 field name: token characters only.
            !name.isEmpty
                && name.unicodeScalars.allSatisfy {
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0))
                }
                ? name : nil
        }
        settings.jwks.fetchTimeout = try seconds(jwksFetchTimeout, "MCP_AUTHZ_JWKS_FETCH_TIMEOUT", settings.jwks.fetchTimeout)
        settings.jwks.minRefreshInterval = try seconds(
            jwksMinRefreshInterval, "MCP_AUTHZ_JWKS_MIN_REFRESH_INTERVAL", settings.jwks.minRefreshInterval
        )
        settings.jwks.defaultRefreshInterval = try seconds(
            jwksRefreshInterval, "MCP_AUTHZ_JWKS_REFRESH_INTERVAL", settings.jwks.defaultRefreshInterval
        )
        settings.jwks.maxStale = try seconds(jwksMaxStale, "MCP_AUTHZ_JWKS_MAX_STALE", settings.jwks.maxStale)
        settings.jwks.maxDocumentBytes = try positive(jwksMaxBytes, "MCP_AUTHZ_JWKS_MAX_BYTES", settings.jwks.maxDocumentBytes)
        settings.jwks.maxKeys = try positive(jwksMaxKeys, "MCP_AUTHZ_JWKS_MAX_KEYS", settings.jwks.maxKeys)
        settings.introspection.cacheTTL = try seconds(
            introspectionCacheTTL, "MCP_AUTHZ_INTROSPECTION_CACHE_TTL", settings.introspection.cacheTTL
        )
        settings.introspection.negativeTTL = min(settings.introspection.negativeTTL, settings.introspection.cacheTTL)
        settings.introspection.timeout = try seconds(introspectionTimeout, "MCP_AUTHZ_INTROSPECTION_TIMEOUT", settings.introspection.timeout)
        settings.introspection.cacheCapacity = settings.tokenCacheCapacity
        settings.dpop.maxAge = try seconds(dpopMaxAge, "MCP_AUTHZ_DPOP_MAX_AGE", settings.dpop.maxAge)
        settings.authzenTrustSubjectProperties =
            try authzenTrustSubjectProperties
            || ServeCommand.value(nil, "MCP_AUTHZ_AUTHZEN_TRUST_SUBJECT_PROPERTIES", environment, default: "false", expected: "true or false") {
                text -> Bool? in
                switch text {
                case "true": true
                case "false": false
                default: nil
                }
            }
        settings.authzenPDPURL = try ServeCommand.value(
            authzenPDPURL, "MCP_AUTHZ_AUTHZEN_PDP_URL", environment, default: "", expected: "an https URL without query or fragment"
        ) { text -> String?? in
            if text.isEmpty { return .some(nil) }
            guard URLRule.problem(text) == nil, !text.contains("?") else { return nil }
            return .some(text.hasSuffix("/") ? String(text.dropLast()) : text)
        }
        settings.dpop.replayCapacity = try positive(dpopReplayCacheSize, "MCP_AUTHZ_DPOP_REPLAY_CACHE_SIZE", settings.dpop.replayCapacity)
        return settings
    }
}
