import MCPAuthzPolicy
import MCPAuthzTokens

/// Everything `serve` is configured with. Defaults are the documented ones; the CLI fills the
/// rest from flags and `MCP_AUTHZ_*` environment variables.
package struct SidecarSettings: Sendable {
    /// A policy file or folder.
    package var policyPath: String
    package var listen: ListenAddress = .tcp(host: "127.0.0.1", port: 9090)
    /// Bounds on request bodies read for decisions (forward auth and the JSON API).
    package var body = MCPBodyLimits()
    /// Largest token accepted.
    package var maxTokenBytes = 16 * 1024
    /// Largest total size of a request's headers; larger requests are refused by the HTTP layer.
    package var maxHeaderBytes = 64 * 1024
    /// Most names in one `/v1/filter` list.
    package var maxFilterNames = 10_000
    /// Requests one connection may have awaiting answers before reading from it stops.
    package var maxPipelined = 16
    package var policyLimits = PolicyLoadLimits.default
    package var jwks = JWKSCacheSettings()
    /// Token introspection: the answers' cache bound, the call's deadline and bounds.
    package var introspection = IntrospectionSettings()
    /// DPoP proofs: how old one may be, how many proof ids are remembered.
    package var dpop = DPoPSettings()
    /// Whether an AuthZEN evaluation without `context.token` may take its caller from
    /// `subject.properties` as given (only behind an enforcement point that vouches for them).
    package var authzenTrustSubjectProperties = false
    /// The AuthZEN PDP identifier its metadata names; nil derives it from each request.
    package var authzenPDPURL: String?
    /// Verified tokens kept (until their `exp`), across servers.
    package var tokenCacheCapacity = 10_000
    /// Most keys the limits keep state for (least recently used dropped first).
    package var maxLimitKeys = 100_000
    /// The header the proxy puts the client's address in, for limits keyed by `client_ip`.
    package var clientIPHeader = "X-Real-IP"
    /// How often the policy path is checked for changes; nil turns the watch off (SIGHUP still
    /// reloads).
    package var watchInterval: Duration? = .seconds(2)
    /// A second policy set decided beside the first on every request, never changing an
    /// answer (`--shadow-policies`).
    package var shadowPolicyPath: String?
    package var audit = AuditSettings()
    /// Idle keep-alive connections are closed after this.
    package var idleTimeout: Duration = .seconds(75)

    package init(policyPath: String) {
        self.policyPath = policyPath
    }
}

/// Where the sidecar listens: `HOST:PORT`, `[IPv6]:PORT`, or `unix:PATH`.
package enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    package init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }

    package var description: String {
        switch self {
        case let .tcp(host, port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): "unix:\(path)"
        }
    }
}
