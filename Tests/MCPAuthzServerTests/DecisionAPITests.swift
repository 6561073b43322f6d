import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzServer
import MCPAuthzTokens
import Testing

/// `/v1/decide` and `/v1/filter`, for MCP servers that ask themselves.
@Suite struct DecisionAPITests {
    @Test func decideAllowsWithIdentity() async throws {
        try await withSidecar { sidecar in
            let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
            let response = try await sidecar.send(.post, "/v1/decide", body: body)
            #expect(response.status == .ok)
            let answer = try sidecar.json(response)
            #expect(answer["allow"] as? Bool == true)
            #expect(answer["status"] as? Int == 200)
            #expect(answer["reason"] as? String == "allowed")
            #expect(answer["rule"] as? String == "todo tools")
            #expect(answer["subject"] as? String == "user-reader")
            #expect(answer["email"] as? String == "carol@example.com")
            #expect(answer["scopes"] as? [String] == ["read:todos"])
            #expect((answer["decision_id"] as? String)?.count == 24)
            #expect((answer["policy_revision"] as? String)?.count == 16)
        }
    }

    @Test func decideDeniesWithTheChallengeToSend() async throws {
        try await withSidecar { sidecar in
            let body = #"{"server":"todos","token":"Bearer \#(sidecar.token("reader"))","method":"tools/call","name":"get_billing"}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            #expect(answer["allow"] as? Bool == false)
            #expect(answer["status"] as? Int == 403)
            #expect(answer["required_scopes"] as? [String] == ["read:billing"])
            #expect((answer["www_authenticate"] as? String)?.contains(#"error="insufficient_scope", scope="read:billing""#) == true)

            let anonymous = try sidecar.json(
                try await sidecar.send(.post, "/v1/decide", body: #"{"server":"todos","method":"tools/list"}"#)
            )
            #expect(anonymous["status"] as? Int == 401)
            #expect(anonymous["reason"] as? String == "token_missing")
            #expect((anonymous["www_authenticate"] as? String)?.contains("resource_metadata=") == true)
        }
    }

    @Test func decideReadsParamsAsAForwardedBodyWould() async throws {
        try await withSidecar { sidecar in
            let body =
                #"{"server":"todos","token":"\#(sidecar.token("admin"))","method":"tools/call","params":{"name":"delete_todo","arguments":{}}}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            #expect(answer["allow"] as? Bool == true)
        }
    }

    @Test func decideForAnUnknownServerDenies() async throws {
        try await withSidecar { sidecar in
            let body = #"{"server":"nope","token":"\#(sidecar.token("reader"))","method":"tools/list"}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            #expect(answer["allow"] as? Bool == false)
            #expect(answer["reason"] as? String == "unknown_server")
        }
    }

    @Test(arguments: [
        "not json", "[]", #"{"server":"todos"}"#, #"{"server":"todos","method":"tools/call","tool":"x"}"#,
        #"{"server":1,"method":"tools/list"}"#, #"{"server":"todos","method":"tools/call"}"#, "",
    ])
    func malformedQuestionGets400(body: String) async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.send(.post, "/v1/decide", body: body)
            #expect(response.status == .badRequest)
            #expect(try sidecar.json(response)["error"] is String)
        }
    }

    @Test func oversizedQuestionGets413() async throws {
        try await withSidecar(configure: { $0.body.maxBytes = 512 }) { sidecar in
            let body = #"{"server":"todos","method":"tools/list","token":""# + String(repeating: "a", count: 1000) + "\"}"
            let answer1 = try await sidecar.send(.post, "/v1/decide", body: body)
            #expect(answer1.status == .contentTooLarge)
            let answer2 = try await sidecar.send(.post, "/v1/filter", body: body)
            #expect(answer2.status == .contentTooLarge)
        }
    }

    @Test func decideNeedsPost() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.send(.get, "/v1/decide")
            #expect(response.status == .methodNotAllowed)
            #expect(response.header("Allow") == "POST")
        }
    }

    @Test func filterReturnsWhatTheCallerMayUse() async throws {
        try await withSidecar { sidecar in
            let question =
                #"{"server":"todos","token":"\#(sidecar.token("reader"))","tools":["list_todos","get_billing","delete_todo","get_todo"],"prompts":["summary"]}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/filter", body: question))
            #expect(answer["allow"] as? Bool == true)
            #expect(answer["tools"] as? [String] == ["list_todos", "get_todo"])
            #expect(answer["prompts"] as? [String] == [])
            #expect(answer["resources"] == nil)

            let admin = #"{"server":"todos","token":"\#(sidecar.token("admin"))","tools":["list_todos","get_billing","delete_todo"]}"#
            let adminAnswer = try sidecar.json(try await sidecar.send(.post, "/v1/filter", body: admin))
            #expect(adminAnswer["tools"] as? [String] == ["list_todos", "delete_todo"])
        }
    }

    @Test func filterWithABadTokenReturnsNothingAnd401() async throws {
        try await withSidecar { sidecar in
            let question = #"{"server":"todos","token":"\#(sidecar.token("expired"))","tools":["list_todos"]}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/filter", body: question))
            #expect(answer["allow"] as? Bool == false)
            #expect(answer["status"] as? Int == 401)
            #expect(answer["reason"] as? String == "token_expired")
            #expect(answer["tools"] as? [String] == [])
        }
    }

    @Test func filterListOverTheBoundGets400() async throws {
        try await withSidecar(configure: { $0.maxFilterNames = 2 }) { sidecar in
            let question = #"{"server":"todos","tools":["a","b","c"]}"#
            let answer3 = try await sidecar.send(.post, "/v1/filter", body: question)
            #expect(answer3.status == .badRequest)
            let answer4 = try await sidecar.send(.post, "/v1/filter", body: #"{"server":"todos"}"#)
            #expect(answer4.status == .badRequest)
        }
    }
}

/// RFC 9728 metadata, health, readiness and metrics.
@Suite struct MetadataAndHealthTests {
    @Test func protectedResourceMetadataPerServer() async throws {
        try await withSidecar { sidecar in
            let response = try await sidecar.send(
                .get, "/.well-known/oauth-protected-resource/mcp", headers: ["X-Forwarded-Host": "todos.test.example"]
            )
            #expect(response.status == .ok)
            #expect(response.header("Content-Type") == "application/json")
            let document = try sidecar.json(response)
            #expect(document["resource"] as? String == "https://todos.test.example/mcp")
            #expect(document["authorization_servers"] as? [String] == ["https://idp.test.example/"])
            #expect(document["scopes_supported"] as? [String] == ["read:todos", "read:billing"])
            #expect(document["bearer_methods_supported"] as? [String] == ["header"])

            let images = try sidecar.json(
                try await sidecar.send(.get, "/.well-known/oauth-protected-resource/images", headers: ["X-Forwarded-Host": "images.test.example"])
            )
            #expect(images["authorization_servers"] as? [String] == ["https://team.cloudflareaccess.test"])
            #expect(images["scopes_supported"] == nil)
        }
    }

    @Test func metadataForAnotherHostOrPathIsNotFound() async throws {
        try await withSidecar { sidecar in
            let wrongHost = try await sidecar.send(
                .get, "/.well-known/oauth-protected-resource/mcp", headers: ["X-Forwarded-Host": "evil.example"]
            )
            #expect(wrongHost.status == .notFound)
            let wrongPath = try await sidecar.send(
                .get, "/.well-known/oauth-protected-resource/other/mcp", headers: ["X-Forwarded-Host": "todos.test.example"]
            )
            #expect(wrongPath.status == .notFound)
        }
    }

    @Test func theRootFormServesAHostsOnlyResource() async throws {
        try await withSidecar { sidecar in
            // The root form clients try after the path-inserted one: the host's only resource.
            let root = try await sidecar.send(.get, "/.well-known/oauth-protected-resource", headers: ["X-Forwarded-Host": "todos.test.example"])
            let inserted = try await sidecar.send(
                .get, "/.well-known/oauth-protected-resource/mcp", headers: ["X-Forwarded-Host": "todos.test.example"])
            #expect(root.status == .ok && root.body == inserted.body)
        }
    }

    @Test func metadataURLInTheChallengeServesTheDocument() async throws {
        try await withSidecar { sidecar in
            let challenge = try #require(try await sidecar.callTool("get_todo", token: nil).header("WWW-Authenticate"))
            let url = try #require(challenge.split(separator: "\"").dropFirst().first.map(String.init))
            let parsed = try #require(URL(string: url))
            let response = try await sidecar.send(.get, parsed.path, headers: ["X-Forwarded-Host": try #require(parsed.host)])
            #expect(response.status == .ok)
        }
    }

    @Test func healthAndReadiness() async throws {
        try await withSidecar { sidecar in
            let answer5 = try await sidecar.send(.get, "/healthz")
            #expect(answer5.status == .ok)
            let ready = try await eventually { try await sidecar.send(.get, "/readyz").status == .ok }
            #expect(ready)
            let answer = try sidecar.json(try await sidecar.send(.get, "/readyz"))
            #expect(answer["issuers"] as? [String: String] == ["idp": "ready", "access": "ready"])
        }
    }

    @Test func issuerWhoseKeysCannotBeFetchedIsMarkedUnavailableAndReady() async throws {
        let policy = { (jwks: String) in
            testPolicy(jwksFile: jwks).replacingOccurrences(
                of: "    jwks_file: \(jwks)\n    token_header", with: "    jwks_uri: http://127.0.0.1:9/jwks.json\n    token_header"
            )
        }
        try await withSidecar(policy: policy, configure: { $0.jwks.fetchTimeout = .seconds(1) }) { sidecar in
            let settled = try await eventually {
                let answer = try sidecar.json(try await sidecar.send(.get, "/readyz"))
                return (answer["issuers"] as? [String: String])?["access"] == "unavailable"
            }
            #expect(settled)
            let answer6 = try await sidecar.send(.get, "/readyz")
            #expect(answer6.status == .ok)
            // Its tokens are refused, fail-closed, while the other issuer's pass.
            let refused = try await sidecar.forwardAuth(
                host: "x", uri: "/images",
                headers: ["Cf-Access-Jwt-Assertion": sidecar.token("alice_access"), "Mcp-Method": "tools/list", "MCP-Protocol-Version": "2026-07-28"]
            )
            #expect(refused.status == .unauthorized)
            #expect(refused.header("X-Authz-Reason") == "jwks_unavailable")
            let answer7 = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(answer7.status == .ok)
        }
    }

    @Test func metricsExposeDecisionsLatencyReloadsAndKeys() async throws {
        try await withSidecar { sidecar in
            _ = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            _ = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            _ = try await sidecar.callTool("get_billing", token: sidecar.token("reader"))
            let response = try await sidecar.send(.get, "/metrics")
            #expect(response.status == .ok)
            #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = response.text
            #expect(text.contains(#"mcp_authz_decisions_total{server="todos",decision="allow",reason="allowed"} 2"#))
            #expect(text.contains(#"mcp_authz_decisions_total{server="todos",decision="deny",reason="no_matching_rule"} 1"#))
            #expect(text.contains("mcp_authz_decision_duration_seconds_bucket{le="))
            #expect(text.contains("mcp_authz_decision_duration_seconds_count 3"))
            #expect(text.contains(#"mcp_authz_policy_reloads_total{result="success"} 1"#))
            #expect(text.contains(#"mcp_authz_token_cache_total{result="hit"} 2"#))
            #expect(text.contains(#"mcp_authz_jwks_refreshes_total{issuer="idp",result="success"}"#))
        }
    }

    @Test func unknownPathIs404() async throws {
        try await withSidecar { sidecar in
            let answer8 = try await sidecar.send(.get, "/nope")
            #expect(answer8.status == .notFound)
        }
    }
}

/// Polls `condition` every 50 ms for up to `seconds`.
func eventually(seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return false
}
