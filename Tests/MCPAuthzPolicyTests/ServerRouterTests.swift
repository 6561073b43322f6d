import Testing

@testable import MCPAuthzPolicy

@Suite struct ServerRouterTests {
    let router: ServerRouter

    init() throws {
        router = try compile(
            serversPolicy([
                ("docs", "{ host: mcp.example.com, path_prefix: /docs }"),
                ("docs-v2", "{ host: mcp.example.com, path_prefix: /docs/v2/ }"),
                ("any-host-docs", "{ path_prefix: /docs }"),
                ("ported", "{ host: \"mcp.example.com:8443\", path_prefix: /p }"),
                ("catch-all", "{ host: other.example.com }"),
                ("cafe", "{ host: mcp.example.com, path_prefix: \"/caf\u{e9}\" }"),
                ("any-host-deep", "{ path_prefix: /docs/deep }"),
                ("any-host-root", "{ path_prefix: / }"),
            ])
        ).router
    }

    @Test(
        arguments: [
            ("mcp.example.com", "/docs", "docs"),
            ("MCP.Example.com", "/docs/", "docs"),
            ("mcp.example.com:443", "/docs/page?x=1", "docs"),
            ("mcp.example.com", "/docs/v2/mcp", "docs-v2"),
            ("mcp.example.com", "/docs/v2", "docs-v2"),
            ("mcp.example.com", "/docsx", nil),
            ("elsewhere.example.com", "/docs/a", "any-host-docs"),
            (nil, "/docs", "any-host-docs"),
            ("mcp.example.com:8443", "/p/mcp", "ported"),
            ("mcp.example.com", "/p/mcp", nil),
            ("other.example.com", "/anything", "catch-all"),
            ("other.example.com:80", "/", "catch-all"),
            ("mcp.example.com", "/", nil),
            // Bytes decide, as in the proxy: a combining mark after the prefix is not a segment
            // boundary, and a canonically equivalent spelling (decomposed é) is another path.
            ("mcp.example.com", "/docs\u{301}", nil),
            ("mcp.example.com", "/docs/\u{301}x", "docs"),
            ("mcp.example.com", "/caf\u{e9}/mcp", "cafe"),
            ("mcp.example.com", "/cafe\u{301}/mcp", nil),
            // Virtual hosts: a server naming the host beats every host-less one, even one with
            // a deeper prefix, and no match among them is no server (as nginx's server_name).
            ("mcp.example.com", "/docs/deep/x", "docs"),
            ("elsewhere.example.com", "/docs/deep/x", "any-host-deep"),
            ("mcp.example.com", "/zzz", nil),
            ("elsewhere.example.com", "/zzz", "any-host-root"),
            (nil, "/zzz", "any-host-root"),
        ] as [(String?, String, String?)])
    func routes(host: String?, path: String, server: String?) {
        #expect(router.serverID(host: host, path: path) == server)
    }
}
