import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzServer
import Testing

/// `/auth` as nginx, Traefik and Envoy call it: every answer, header and refusal.
@Suite struct ForwardAuthTests {
    @Test func allowedCallCarriesSanitizedIdentityHeaders() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(response.status == .ok)
            #expect(response.header("X-Authz-Subject") == "user-reader")
            #expect(response.header("X-Authz-Email") == "carol@example.com")
            #expect(response.header("X-Authz-Scopes") == "read:todos")
            #expect(response.header("X-Authz-Issuer") == "https://idp.test.example/")
            #expect(response.header("X-Authz-Server") == "todos")
            #expect(response.header("X-Authz-Decision-Id")?.count == 24)
            #expect(response.header("WWW-Authenticate") == nil)
        }
    }

    @Test func missingTokenGets401PointingAtMetadata() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: nil)
            #expect(response.status == .unauthorized)
            #expect(
                response.header("WWW-Authenticate")
                    == #"Bearer resource_metadata="https://todos.test.example/.well-known/oauth-protected-resource/mcp", scope="read:todos read:billing""#
            )
            #expect(response.header("X-Authz-Reason") == "token_missing")
        }
    }

    @Test(arguments: [("expired", "token_expired"), ("wrong_audience", "audience_mismatch")])
    func refusedTokenGets401InvalidToken(token: String, reason: String) async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token(token))
            #expect(response.status == .unauthorized)
            #expect(response.header("WWW-Authenticate")?.hasPrefix(#"Bearer error="invalid_token", resource_metadata=""#) == true)
            #expect(response.header("X-Authz-Reason") == reason)
        }
    }

    @Test func garbageTokenGets401() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: "not.a.jwt")
            #expect(response.status == .unauthorized)
            #expect(response.header("X-Authz-Reason") == "token_malformed")
        }
    }

    @Test func audienceFromTheAudiencesListIsAccepted() async throws {
        try await withSidecar { sidecar in
            let answer1 = try await sidecar.callTool("get_todo", token: sidecar.token("audience_array"))
            #expect(answer1.status == .ok)
        }
    }

    @Test func missingScopeGets403WithTheScopeThatGrantsIt() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_billing", token: sidecar.token("reader"))
            #expect(response.status == .forbidden)
            #expect(
                response.header("WWW-Authenticate")
                    == #"Bearer error="insufficient_scope", scope="read:billing", resource_metadata="https://todos.test.example/.well-known/oauth-protected-resource/mcp""#
            )
            #expect(response.header("X-Authz-Reason") == "no_matching_rule")
        }
    }

    @Test func denyRuleGetsPlain403AndAdminsPass() async throws {
        try await withSidecar { sidecar in
            let reader = try await sidecar.callTool("delete_todo", token: sidecar.token("reader"))
            #expect(reader.status == .forbidden)
            #expect(reader.header("X-Authz-Reason") == "denied_by_rule")
            #expect(reader.header("WWW-Authenticate") == nil)
            let answer2 = try await sidecar.callTool("delete_todo", token: sidecar.token("admin"))
            #expect(answer2.status == .ok)
        }
    }

    @Test func unknownToolWithNoScopeToGrantItGetsPlain403() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("launch_rockets", token: sidecar.token("reader"))
            #expect(response.status == .forbidden)
            #expect(response.header("WWW-Authenticate") == nil)
        }
    }

    @Test func requestForNoServerIsRefused() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"), host: "todos.test.example", uri: "/other")
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "unknown_server")
        }
    }

    @Test func tokenFromCloudflareAccessHeaderAndEmailAllowlist() async throws {
        try await withSidecar { sidecar in
            func generate(_ token: String) async throws -> TestResponse {
                try await sidecar.forwardAuth(
                    host: "any.example", uri: "/images/mcp",
                    headers: [
                        "Cf-Access-Jwt-Assertion": sidecar.token(token), "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                        "Mcp-Name": "generateImage",
                    ]
                )
            }
            let alice = try await generate("alice_access")
            #expect(alice.status == .ok)
            #expect(alice.header("X-Authz-Email") == "alice@example.com")
            let mallory = try await generate("mallory_access")
            #expect(mallory.status == .forbidden)
            #expect(mallory.header("X-Authz-Reason") == "no_matching_rule")
        }
    }

    @Test func tokenOfAnIssuerTheServerDoesNotAcceptIsRefused() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("alice_access"))
            #expect(response.status == .unauthorized)
            #expect(response.header("X-Authz-Reason") == "issuer_untrusted")
        }
    }

    @Test func claimsCannotInjectHeaders() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("injection"))
            #expect(response.status == .ok)
            #expect(response.header("X-Injected") == nil)
            #expect(response.header("X-Authz-Subject") == "evil%0D%0AX-Injected:%201")
            #expect(response.header("X-Authz-Email") == nil || response.header("X-Authz-Email")?.contains("\n") == false)
        }
    }

    // MARK: Where the operation comes from

    @Test func olderProtocolWithoutBodyCannotDecideToolsOnHeaders() async throws {
        try await withSidecar { sidecar in
            for version in ["2025-11-25", "2025-06-18", "not-a-date", nil] as [String?] {
                var headers = ["Mcp-Method": "tools/call", "Mcp-Name": "get_todo"]
                headers["MCP-Protocol-Version"] = version
                let response = try await sidecar.forwardAuth(token: sidecar.token("reader"), headers: headers)
                #expect(response.status == .forbidden, "version \(version ?? "none")")
                #expect(response.header("X-Authz-Reason") == "operation_unverified")
            }
        }
    }

    @Test func olderProtocolIsDecidedFromTheForwardedBody() async throws {
        try await withSidecar { sidecar in
            let body = #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_todo","arguments":{"id":1}}}"#
            let allowed = try await sidecar.forwardAuth(
                token: sidecar.token("reader"), headers: ["MCP-Protocol-Version": "2025-06-18"], body: body
            )
            #expect(allowed.status == .ok)
            let denied = try await sidecar.forwardAuth(
                token: sidecar.token("reader"), body: #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_billing"}}"#
            )
            #expect(denied.status == .forbidden)
        }
    }

    @Test func headerThatDisagreesWithTheBodyIsRefused() async throws {
        try await withSidecar { sidecar in
            let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_todo"}}"#
            for headers in [
                ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_todo"],
                ["Mcp-Method": "tools/list"],
                ["Mcp-Name": "get_todo"],
            ] {
                let response = try await sidecar.forwardAuth(token: sidecar.token("admin"), headers: headers, body: body)
                #expect(response.status == .forbidden)
                #expect(response.header("X-Authz-Reason") == "header_mismatch")
            }
        }
    }

    @Test func base64EncodedMcpNameIsDecoded() async throws {
        try await withSidecar { sidecar in
            let encoded = "=?base64?" + Data("résumé".utf8).base64EncodedString() + "?="
            let response = try await sidecar.forwardAuth(
                token: sidecar.token("reader"),
                headers: ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": encoded]
            )
            #expect(response.status == .ok)
        }
    }

    @Test func nameBearingMethodWithoutMcpNameIsRefused() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.forwardAuth(
                token: sidecar.token("reader"), headers: ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"]
            )
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "operation_unverified")
        }
    }

    @Test func batchNeedsEveryElementAllowed() async throws {
        try await withSidecar { sidecar in
            let allowed =
                #"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_todo"}}]"#
            let answer3 = try await sidecar.forwardAuth(token: sidecar.token("reader"), body: allowed)
            #expect(answer3.status == .ok)
            let mixed =
                #"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_billing"}}]"#
            let response = try await sidecar.forwardAuth(token: sidecar.token("reader"), body: mixed)
            #expect(response.status == .forbidden)
            #expect(response.header("WWW-Authenticate")?.contains(#"scope="read:billing""#) == true)
        }
    }

    @Test func batchOverTheBoundIsRefused() async throws {
        try await withSidecar(configure: { $0.body.maxBatch = 3 }) { sidecar in
            let element = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
            let body = "[" + Array(repeating: element, count: 4).joined(separator: ",") + "]"
            let response = try await sidecar.forwardAuth(token: sidecar.token("reader"), body: body)
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "batch_too_large")
        }
    }

    @Test func clientResponsesPassOnIdentityAlone() async throws {
        try await withSidecar { sidecar in
            let body = #"{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}"#
            let answer4 = try await sidecar.forwardAuth(token: sidecar.token("noscope"), body: body)
            #expect(answer4.status == .ok)
            let answer5 = try await sidecar.forwardAuth(token: nil, body: body)
            #expect(answer5.status == .unauthorized)
        }
    }

    @Test func getAndDeleteAreDecidedOnIdentityAndServer() async throws {
        try await withSidecar { sidecar in
            for method in ["GET", "DELETE"] {
                let answer6 = try await sidecar.forwardAuth(method: method, token: sidecar.token("noscope"))
                #expect(answer6.status == .ok)
                let answer7 = try await sidecar.forwardAuth(method: method, token: nil)
                #expect(answer7.status == .unauthorized)
            }
            let put = try await sidecar.forwardAuth(method: "PUT", token: sidecar.token("admin"))
            #expect(put.status == .forbidden)
            #expect(put.header("X-Authz-Reason") == "http_method_not_allowed")
        }
    }

    @Test(arguments: [
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call"#, "[]", "42", #"{"id":1,"method":"tools/list"}"#,
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#, #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func malformedBodyIsRefused(body: String) async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.forwardAuth(token: sidecar.token("admin"), body: body)
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "body_invalid")
        }
    }

    @Test func oversizedBodyIsRefusedWithoutReadingIt() async throws {
        try await withSidecar(configure: { $0.body.maxBytes = 1024 }) { sidecar in
            let body =
                #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_todo","arguments":{"x":""#
                + String(repeating: "a", count: 4096) + "\"}}}"
            let response = try await sidecar.forwardAuth(token: sidecar.token("reader"), body: body)
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "body_too_large")
        }
    }

    // MARK: What the proxy must say

    @Test func proxyThatOmitsTheOriginalRequestIsRefused() async throws {
        try await withSidecar { sidecar in
            let noMethod = try await sidecar.send(
                .get, "/auth", headers: ["X-Original-URI": "/mcp", "Authorization": "Bearer " + sidecar.token("reader")]
            )
            #expect(noMethod.status == .forbidden)
            #expect(noMethod.header("X-Authz-Reason") == "forward_request_invalid")
            let noURI = try await sidecar.send(.get, "/auth", headers: ["X-Original-Method": "GET"])
            #expect(noURI.header("X-Authz-Reason") == "forward_request_invalid")
        }
    }

    @Test(arguments: ["/mcp/../images", "/mcp/%2e%2e/images", "//mcp", "/mcp/./x", "mcp", "http://todos.test.example/mcp"])
    func nonCanonicalPathIsRefused(uri: String) async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.forwardAuth(uri: uri, method: "GET", token: sidecar.token("reader"))
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "forward_request_invalid")
        }
    }

    @Test func traefikForwardHeadersAreRead() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.send(
                .get, "/auth",
                headers: [
                    "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/mcp", "X-Forwarded-Host": "todos.test.example",
                    "Authorization": "Bearer " + sidecar.token("reader"), "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list",
                ]
            )
            #expect(response.status == .ok)
        }
    }

    @Test func envoyFormCarriesThePathAndBody() async throws {
        try await withSidecar { sidecar in
            let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"generateImage"}}"#
            let alice = try await sidecar.send(
                .post, "/auth/images/mcp", headers: ["Cf-Access-Jwt-Assertion": sidecar.token("alice_access")], body: body
            )
            #expect(alice.status == .ok)
            let mallory = try await sidecar.send(
                .post, "/auth/images/mcp", headers: ["Cf-Access-Jwt-Assertion": sidecar.token("mallory_access")], body: body
            )
            #expect(mallory.status == .forbidden)
        }
    }

    @Test func duplicatedForwardHeadersAreRefused() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.forwardAuth(
                token: sidecar.token("reader"), headers: ["X-Forwarded-Host": "a.example, todos.test.example"])
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "forward_request_invalid")
        }
    }
}
