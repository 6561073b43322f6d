import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzServer
import Testing

/// A server with a catalog, through the sidecar: arguments from `Mcp-Param-*` headers when no
/// body comes, headers checked against a body that does, and pinned definitions through
/// `/v1/filter`.
@Suite struct CatalogServerTests {
    static let catalog = """
        {"tools": [
          {"name": "get_todo", "description": "One todo.",
           "inputSchema": {"type": "object", "properties": {
             "list": {"type": "string", "x-mcp-header": "List"}, "limit": {"type": "integer", "x-mcp-header": "Limit"}}}},
          {"name": "list_todos", "inputSchema": {"type": "object"}},
          {"name": "delete_todo", "inputSchema": {"type": "object"}, "annotations": {"destructiveHint": true}}
        ]}
        """

    /// The test policy with the todos server given the catalog (absolute path), pinning, and a
    /// rule on `list` and `limit` in place of the todo tools rule.
    static func policy(_ catalogFile: String) -> (String) -> String {
        { jwksFile in
            testPolicy(jwksFile: jwksFile)
                .replacingOccurrences(
                    of: "    scopes_supported: [read:todos, read:billing]",
                    with: "    scopes_supported: [read:todos, read:billing]\n    catalog: \(catalogFile)\n    pin_definitions: true"
                )
                .replacingOccurrences(
                    of: "        allow: { tools: [list_todos, get_todo, delete_todo, \"résumé\"] }",
                    with: """
                                allow: { tools: [list_todos, delete_todo] }
                              - name: team lists, a few at a time
                                when: { scopes: [read:todos], arguments: { list: "team-*", limit: { max: 10 } } }
                                allow: { tools: [get_todo] }
                        """
                )
        }
    }

    func withCatalogSidecar(_ body: @Sendable (SidecarUnderTest) async throws -> Void) async throws {
        let folder = try TestFolder()
        try folder.write("tools.json", Self.catalog)
        try await withSidecar(policy: Self.policy(folder.path + "/tools.json")) { sidecar in try await body(sidecar) }
    }

    /// A header-only forward-auth call for `get_todo` on protocol 2026-07-28.
    func ask(_ sidecar: SidecarUnderTest, _ parameters: [String: String], body: String? = nil) async throws -> String {
        var headers = [
            "Authorization": "Bearer \(sidecar.token("reader"))", "X-Original-Method": "POST", "X-Original-URI": "/mcp",
            "X-Forwarded-Host": "todos.test.example", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
            "Mcp-Name": "get_todo",
        ]
        for (name, value) in parameters { headers["Mcp-Param-" + name] = value }
        let response = try await sidecar.send(body == nil ? .get : .post, "/auth", headers: headers, body: body)
        return "\(response.status.code) \(response.headers[HTTPField.Name("X-Authz-Reason")!] ?? "allowed")"
    }

    @Test func headersCarryTheArgumentsTheCatalogMaps() async throws {
        try await withCatalogSidecar { (sidecar: SidecarUnderTest) async throws in
            #expect(try await ask(sidecar, ["List": "team-a", "Limit": "5"]) == "200 allowed")
            #expect(try await ask(sidecar, ["List": "team-a", "Limit": "50"]) == "403 no_matching_rule")
            #expect(try await ask(sidecar, ["list": "=?base64?dGVhbS3DqQ==?=", "limit": "5"]) == "200 allowed")
            #expect(try await ask(sidecar, ["List": "other", "Limit": "5"]) == "403 no_matching_rule")
            // A header missing: that argument is unseen, and the allow cannot apply.
            #expect(try await ask(sidecar, ["List": "team-a"]) == "403 arguments_unavailable")
            // Not of the schema's type, or not base64: refused before any decision.
            #expect(try await ask(sidecar, ["List": "team-a", "Limit": "5.0"]) == "403 forward_request_invalid")
            #expect(try await ask(sidecar, ["List": "=?base64?dGVhbS1h=?=", "Limit": "5"]) == "403 forward_request_invalid")
        }
    }

    @Test func aBodyMustAgreeWithTheParameterHeaders() async throws {
        try await withCatalogSidecar { (sidecar: SidecarUnderTest) async throws in
            let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_todo","arguments":{"list":"team-a","limit":5}}}"#
            #expect(try await ask(sidecar, ["List": "team-a", "Limit": "5"], body: body) == "200 allowed")
            #expect(try await ask(sidecar, ["List": "team-b", "Limit": "5"], body: body) == "403 header_mismatch")
            #expect(try await ask(sidecar, ["List": "team-a"], body: body) == "403 header_mismatch")
        }
    }

    @Test func aChangedDefinitionSeenThroughTheFilterIsWithheldAndRefused() async throws {
        try await withCatalogSidecar { (sidecar: SidecarUnderTest) async throws in
            func filter(_ tools: String) async throws -> [String: Any] {
                let body = #"{"server":"todos","token":"\#(sidecar.token("admin"))","tools":\#(tools)}"#
                return try sidecar.json(try await sidecar.send(.post, "/v1/filter", body: body))
            }
            func call(_ tool: String) async throws -> String? {
                let response = try await sidecar.callTool(tool, token: sidecar.token("admin"))
                return response.status == .ok ? "allowed" : response.headers[HTTPField.Name("X-Authz-Reason")!]
            }
            #expect(try await call("delete_todo") == "allowed")
            // As the catalog has it: listed, callable.
            let same = try await filter(#"[{"name":"delete_todo","inputSchema":{"type":"object"},"annotations":{"destructiveHint":true}}]"#)
            #expect(same["tools"] as? [String] == ["delete_todo"])
            #expect(same["changed"] as? [String] == [])
            // The server now describes it otherwise: withheld from the list, and its calls refused.
            let changed = try await filter(
                #"[{"name":"delete_todo","description":"Now also empties the trash.","inputSchema":{"type":"object"}},"list_todos"]"#
            )
            #expect(changed["tools"] as? [String] == ["list_todos"])
            #expect(changed["changed"] as? [String] == ["delete_todo"])
            #expect(try await call("delete_todo") == "tool_definition_changed")
            #expect(try await call("list_todos") == "allowed")
            // A tool the catalog does not have is refused whatever it says.
            #expect(try await call("new_tool") == "tool_definition_changed")
            // Listed as pinned again: callable again.
            _ = try await filter(#"[{"name":"delete_todo","inputSchema":{"type":"object"},"annotations":{"destructiveHint":true}}]"#)
            #expect(try await call("delete_todo") == "allowed")
        }
    }

    @Test func theFilterShowsAToolSomeCallCouldUse() async throws {
        try await withCatalogSidecar { (sidecar: SidecarUnderTest) async throws in
            let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","tools":["get_todo","delete_todo","get_billing"]}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/filter", body: body))
            // get_todo is allowed for some arguments; delete_todo is denied outside admins.
            #expect(answer["tools"] as? [String] == ["get_todo"])
        }
    }
}
