/// One protected MCP server: how requests are routed to it, which tokens it accepts, and its rules.
package struct ServerConfig: Sendable {
    package var id: Located<String>
    package var match: ServerMatch
    /// The RFC 8707 resource indicator and RFC 9728 `resource`; also an accepted audience.
    package var resource: Located<String>?
    /// Further accepted `aud` values.
    package var audiences: [Located<String>]
    /// Ids of the issuers whose tokens this server accepts.
    package var issuers: [Located<String>]
    /// Scopes advertised in metadata and in `WWW-Authenticate` challenges.
    package var scopesSupported: [Located<String>]
    /// Authorization servers advertised in metadata; derived from the issuers when empty.
    package var authorizationServers: [Located<String>]
    /// Rules in file order: default deny, and any matching deny wins over every allow.
    package var rules: [Rule]
    /// Whether audit records carry the values of the arguments a decision used, not only
    /// their paths.
    package var auditArguments = false
    /// `catalog:` as written: a JSON file of the server's `tools/list` result, relative to the
    /// policy file.
    package var catalogPath: Located<String>?
    /// The catalog read from it, once loaded.
    package var catalog: ToolCatalog?
    /// `pin_definitions: true`: a live tool definition that differs from the catalog's is
    /// refused.
    package var pinDefinitions = false
    /// `limits:`: how often allowed requests may come, per key.
    package var limits: [RateLimit] = []
    /// `allowed_origins:`: the browser origins (`scheme://host[:port]`, lower-case) a request
    /// with an `Origin` header may come from; empty accepts any (the MCP server must check).
    package var allowedOrigins: [String] = []
    /// `resource_name`, `resource_documentation`: what RFC 9728 metadata says of the server.
    package var resourceName: String? = nil
    package var resourceDocumentation: Located<String>? = nil
    package var location: SourceLocation

    /// Whether a request's `Origin` (absent when nil) may reach the server: absent, or listed
    /// in `allowed_origins` when the server has it. Several `Origin` values never may.
    package func allows(origins: [String]) -> Bool {
        guard !allowedOrigins.isEmpty, !origins.isEmpty else { return true }
        guard origins.count == 1, let origin = ServerConfig.normalizedOrigin(origins[0]) else { return false }
        return allowedOrigins.contains(origin)
    }

    /// An origin as `scheme://host[:port]` (RFC 6454), lower-case, the default port dropped; nil
    /// for anything else (a path, `null`, another scheme).
    package static func normalizedOrigin(_ text: String) -> String? {
        guard let parts = WebOrigin.split(text), parts.rest.isEmpty else { return nil }
        return parts.origin
    }
}

/// Which requests belong to a server: by host and by path prefix (on a segment boundary).
package struct ServerMatch: Sendable {
    /// Lower-cased host; nil matches any host.
    package var host: Located<String>?
    /// Path prefix, always starting with `/`.
    package var pathPrefix: Located<String>?
    package var location: SourceLocation
}
