import MCPAuthzPolicy
import Synchronization

/// The tool definitions MCP servers were last seen to list, for servers that pin definitions
/// (`pin_definitions`): a live `tools/list` answer passing through `/v1/filter` with full
/// definitions (the njs list filter sends them) records each catalog tool's hash here, and a
/// call to a tool whose live definition differs from the catalog's is refused.
///
/// Only tools of a catalog are kept, so the table is bounded by the catalogs. Whoever can
/// reach `/v1/filter` reports definitions: the sidecar's port must be reachable by the proxy
/// and the MCP servers only, never by MCP clients.
package final class DefinitionWatch: Sendable {
    /// Server id to tool name to the hash of its live definition.
    private let seen = Mutex<[String: [String: String]]>([:])

    package init() {}

    /// Records a live definition of a catalog tool; others are not kept (they are refused
    /// whatever their definition).
    package func record(server: String, tool: String, hash: String, catalog: ToolCatalog) {
        guard catalog.toolsByName[tool] != nil else { return }
        seen.withLock { $0[server, default: [:]][tool] = hash }
    }

    /// Why a call to a tool is refused under `pin_definitions`, or nil: the tool is not in
    /// the catalog (pinned nil), or it was last listed with another definition.
    package func problem(server: String, tool: String, catalog: ToolCatalog) -> (pinned: String?, live: String?)? {
        guard let pinned = catalog.toolsByName[tool]?.definitionHash else { return (nil, nil) }
        let live = seen.withLock { $0[server]?[tool] }
        guard let live, live != pinned else { return nil }
        return (pinned, live)
    }
}
