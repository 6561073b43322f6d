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
    package var location: SourceLocation
}

/// Which requests belong to a server: by host and by path prefix (on a segment boundary).
package struct ServerMatch: Sendable {
    /// Lower-cased host; nil matches any host.
    package var host: Located<String>?
    /// Path prefix, always starting with `/`.
    package var pathPrefix: Located<String>?
    package var location: SourceLocation
}
