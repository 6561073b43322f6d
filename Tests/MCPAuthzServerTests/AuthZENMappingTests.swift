import Foundation
import MCPAuthzPolicy
import Testing

@testable import MCPAuthzServer

/// How an AuthZEN evaluation maps onto an MCP operation (COAZ-MCP default mappings), and search
/// page tokens. The endpoints themselves are driven by scripts/check-authzen.py.
@Suite struct AuthZENMappingTests {
    static func evaluation(_ action: String, _ type: String, _ id: String?, properties: [String: ClaimValue] = [:]) throws -> Evaluation {
        var resource: [String: ClaimValue] = ["type": .string(type), "properties": .object(properties)]
        if let id { resource["id"] = .string(id) }
        return try Evaluation(
            [
                "subject": .object(["type": .string("identity"), "id": .string("alice")]), "action": .object(["name": .string(action)]),
                "resource": .object(resource),
            ],
            defaults: nil, resourceIDRequired: false
        )
    }

    static func operation(_ evaluation: Evaluation) throws -> MCPOperation? {
        guard case let .call(operation) = try evaluation.message() else { return nil }
        return operation
    }

    @Test func eachResourceTypeNamesTheTargetItsMethodActsOn() throws {
        let tool = try #require(try Self.operation(Self.evaluation("tools/call", "tool", "get_todo")))
        #expect(tool.method == "tools/call" && tool.target?.name == "get_todo" && tool.arguments == .unavailable)
        let prompt = try #require(try Self.operation(Self.evaluation("prompts/get", "prompt", "summarize")))
        #expect(prompt.target?.name == "summarize")
        let resource = try #require(try Self.operation(Self.evaluation("resources/read", "resource", "todos://mine")))
        #expect(resource.target?.name == "todos://mine")
        let server = try #require(try Self.operation(Self.evaluation("tools/list", "mcp_server", "https://mcp.example.com/todos/mcp")))
        #expect(server.method == "tools/list" && server.target == nil)
        let argued = try #require(
            try Self.operation(Self.evaluation("tools/call", "tool", "export", properties: ["arguments": .object(["project": .string("acme")])])))
        #expect(argued.arguments == .known(["project": .string("acme")]))
    }

    @Test func anActionThatDoesNotFitTheResourceTypeIsRefused() throws {
        for (action, type, id) in [
            ("tools/call", "prompt", "x"), ("tools/list", "tool", "x"), ("tools/call", "mcp_server", "s"), ("tools/call", "tool", nil),
            ("tools/call", "account", "1"), ("completion/complete", "mcp_server", "s"),
        ] {
            #expect(throws: AuthZENError.self, "\(action) on \(type)") { try Self.evaluation(action, type, id).message() }
        }
    }

    @Test func requiredMembersAreRequiredAndDefaultsFillEntries() throws {
        #expect(throws: AuthZENError.self) { try Evaluation(["action": .object(["name": .string("ping")])], defaults: nil) }
        let defaults: [String: ClaimValue] = [
            "subject": .object(["type": .string("identity"), "id": .string("alice")]), "action": .object(["name": .string("tools/call")]),
            "context": .object(["token": .string("t")]),
        ]
        let entry = try Evaluation(["resource": .object(["type": .string("tool"), "id": .string("x")])], defaults: defaults)
        #expect(entry.subject.id == "alice" && entry.action == "tools/call" && entry.context["token"] == .string("t"))
        let overridden = try Evaluation(
            ["resource": .object(["type": .string("tool"), "id": .string("x")]), "action": .object(["name": .string("prompts/get")])],
            defaults: defaults)
        #expect(overridden.action == "prompts/get")
    }

    @Test func aPageTokenBelongsToItsRequest() throws {
        let request: [String: ClaimValue] = ["subject": .object(["id": .string("alice")]), "page": .object(["limit": .integer(2)])]
        let first = try Page(request)
        #expect(first.offset == 0 && first.limit == 2)
        let answer = String(decoding: first.answer(total: 5, outcome: nil, refusal: nil) { _ in [] }, as: UTF8.self)
        let token = try #require(answer.split(separator: "\"").drop { $0 != "next_token" }.dropFirst(2).first.map(String.init))
        var next = request
        next["page"] = .object(["limit": .integer(2), "token": .string(token)])
        #expect(try Page(next).offset == 2)
        var changed = next
        changed["subject"] = .object(["id": .string("bob")])
        #expect(throws: AuthZENError.self) { try Page(changed) }
        #expect(throws: AuthZENError.self) { try Page(["page": .object(["limit": .integer(5000)])]) }
        let last = String(decoding: try Page(next).answer(total: 4, outcome: nil, refusal: nil) { _ in [] }, as: UTF8.self)
        #expect(last.contains("\"next_token\":\"\""))
    }
}

/// RFC 9728 documents per host and path.
@Suite struct ProtectedResourceMetadataFormsTests {
    @Test func theRootFormServesOnlyAHostsSoleResource() throws {
        let yaml =
            """
            version: 1
            issuers:
              - id: idp
                issuer: https://idp.example.com/
                dpop: required
            servers:
              - id: a
                match: { path_prefix: /a }
                resource: https://shared.example.com/a
                issuers: [idp]
                resource_name: Server A
                resource_documentation: https://docs.example.com/a
                rules: [{ name: r, allow: { methods: [ping] } }]
              - id: b
                match: { path_prefix: /b }
                resource: https://shared.example.com/b
                issuers: [idp]
                rules: [{ name: r, allow: { methods: [ping] } }]
              - id: c
                match: { host: solo.example.com, path_prefix: /mcp }
                resource: https://solo.example.com/mcp
                issuers: [idp]
                rules: [{ name: r, allow: { methods: [ping] } }]
            """
        let file = NSTemporaryDirectory() + "mcp-authz-metadata-" + UUID().uuidString + ".yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let metadata = ProtectedResourceMetadata(try PolicySnapshot.load(path: file).snapshot)
        #expect(metadata.document(host: "shared.example.com", suffix: "") == nil, "two resources on one host: no guess")
        let a = try #require(metadata.document(host: "shared.example.com", suffix: "/a"))
        let text = String(decoding: a, as: UTF8.self)
        #expect(text.contains("\"resource_name\":\"Server A\"") && text.contains("\"resource_documentation\":\"https://docs.example.com/a\""))
        #expect(text.contains("\"dpop_signing_alg_values_supported\"") && text.contains("\"dpop_bound_access_tokens_required\":true"))
        #expect(metadata.document(host: "solo.example.com", suffix: "") == metadata.document(host: "solo.example.com", suffix: "/mcp"))
    }
}
