/// Every issuer and server of a policy folder, merged from its files, as written.
///
/// This is the uncompiled model that validation reads; `PolicySnapshot` is what decisions use.
package struct PolicySet: Sendable {
    package var issuers: [IssuerConfig]
    package var servers: [ServerConfig]
    /// The files it was read from, in load order.
    package var files: [String]

    package init(issuers: [IssuerConfig] = [], servers: [ServerConfig] = [], files: [String] = []) {
        self.issuers = issuers
        self.servers = servers
        self.files = files
    }

    package var ruleCount: Int { servers.reduce(0) { $0 + $1.rules.count } }
}
