import Foundation
import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// The pure parts of request reading: forwarded headers, JSON-RPC bodies, header values.
@Suite struct RequestReadingTests {
    private func forwarded(_ headers: [String: [String]], method: String = "GET", envoy: String? = nil) throws(RequestRejection)
        -> ForwardedRequest
    {
        try ForwardedRequest(header: { headers[$0] ?? [] }, callMethod: method, pathAfterAuth: envoy, authority: "sidecar:9090")
    }

    @Test(arguments: [
        ("/", true), ("/mcp", true), ("/mcp/", true), ("/todos/mcp?x=%2e%2e&y=//", true), ("/a.b/..c/.d", true),
        ("", false), ("mcp", false), ("?x", false), ("//mcp", false), ("/a//b", false), ("/./mcp", false), ("/mcp/.", false),
        ("/mcp/..", false), ("/a/../mcp", false), ("/mcp/..?x", false), ("/m%63p", false), ("/mcp\\x", false), ("/mc p", false),
        ("/mcp\u{7F}", false), ("/mcp\t", false),
    ])
    func onlyCanonicalPathsAreRead(uri: String, canonical: Bool) {
        let read = try? forwarded(["X-Original-Method": ["POST"], "X-Original-URI": [uri]])
        #expect((read != nil) == canonical, "\(uri)")
    }

    @Test func nginxHeadersNameTheOriginalRequest() throws {
        let request = try forwarded([
            "X-Original-Method": ["post"], "X-Original-URI": ["/mcp?session=1"], "X-Forwarded-Host": ["todos.example"],
            "MCP-Protocol-Version": ["2026-07-28"], "Mcp-Method": ["tools/list"],
        ])
        #expect(request.method == "POST")
        #expect(request.uri == "/mcp?session=1")
        #expect(request.path == "/mcp")
        #expect(request.host == "todos.example")
        #expect(request.headersAreTrusted)
    }

    @Test func hostFallsBackToTheCallsOwn() throws {
        let request = try forwarded(["X-Original-Method": ["GET"], "X-Original-URI": ["/mcp"]])
        #expect(request.host == "sidecar:9090")
    }

    @Test func envoyFormTakesMethodAndPathFromTheCall() throws {
        let request = try forwarded([:], method: "DELETE", envoy: "/mcp")
        #expect(request.method == "DELETE")
        #expect(try request.messages(limits: MCPBodyLimits()) == nil)
    }

    @Test func repeatedHeadersAreRefused() {
        #expect(throws: RequestRejection.self) {
            try forwarded(["X-Original-Method": ["GET", "POST"], "X-Original-URI": ["/mcp"]])
        }
        #expect(throws: RequestRejection.self) {
            try forwarded(["X-Original-Method": ["POST"], "X-Original-URI": ["/mcp"], "Mcp-Name": ["a", "b"]])
        }
    }

    @Test(arguments: ["2026-07-28", "2027-01-01"])
    func headersTrustedFromTheVersionThatRejectsMismatches(version: String) throws {
        let request = ForwardedRequest(method: "POST", host: nil, uri: "/mcp", protocolVersion: version, mcpMethod: "tools/call", mcpName: "x")
        #expect(try request.messages(limits: MCPBodyLimits()) == [.call(MCPOperation(method: "tools/call", name: "x"))])
    }

    @Test(arguments: ["2025-11-25", "2026-7-28", "2026-07-28x", "", "9999-99-9"])
    func headersNotTrustedOtherwise(version: String) {
        let request = ForwardedRequest(method: "POST", host: nil, uri: "/mcp", protocolVersion: version, mcpMethod: "tools/call", mcpName: "x")
        #expect(!request.headersAreTrusted)
        let error = #expect(throws: RequestRejection.self) { try request.messages(limits: MCPBodyLimits()) }
        #expect(error?.reason == .operationUnverified)
    }

    @Test func bodyNamesToolsPromptsResourcesAndCompletionTargets() throws {
        let limits = MCPBodyLimits()
        func one(_ json: String) throws -> MCPMessage { try #require(try MCPRequestBody.messages(Array(json.utf8), limits: limits).first) }
        #expect(
            try one(#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#)
                == .call(MCPOperation(method: "prompts/get", name: "p", arguments: .known([:]))))
        #expect(
            try one(#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#)
                == .call(MCPOperation(method: "resources/read", name: "file:///a", arguments: .known([:])))
        )
        #expect(
            try one(#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"}}}"#)
                == .call(MCPOperation(method: "completion/complete", target: .init(kind: .prompt, name: "p"), arguments: .known([:])))
        )
        #expect(
            try one(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                == .call(MCPOperation(method: "notifications/initialized", arguments: .known([:]))))
        #expect(try one(#"{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"no"}}"#) == .response)
    }

    @Test func bodyArgumentsAreKnownAndNeverGuessedFromHeaders() throws {
        let limits = MCPBodyLimits()
        func one(_ json: String) throws -> MCPMessage { try #require(try MCPRequestBody.messages(Array(json.utf8), limits: limits).first) }
        let call = try one(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"amount":5,"to":{"iban":"X"}}}}"#)
        guard case let .call(operation) = call else {
            Issue.record("not a call: \(call)")
            return
        }
        #expect(operation.arguments.lookup("amount") == .value(.integer(5)))
        #expect(operation.arguments.lookup("to.iban") == .value(.string("X")))
        #expect(operation.arguments.lookup("missing") == .absent)
        let rejected = #expect(throws: RequestRejection.self) {
            try MCPRequestBody.messages(
                Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"amount=5"}}"#.utf8), limits: limits)
        }
        #expect(rejected?.reason == .bodyInvalid)
        // Headers alone: the arguments are not seen.
        let headers = ForwardedRequest(method: "POST", host: nil, uri: "/mcp", protocolVersion: "2026-07-28", mcpMethod: "tools/call", mcpName: "t")
        guard case let .call(fromHeaders)? = try headers.messages(limits: limits)?.first else {
            Issue.record("no call")
            return
        }
        #expect(fromHeaders.arguments.lookup("amount") == .unknown)
    }

    @Test func bodyBoundsAreEnforced() {
        var limits = MCPBodyLimits()
        limits.maxDepth = 4
        limits.maxBytes = 64
        #expect(throws: RequestRejection.self) {
            try MCPRequestBody.messages(Array(#"{"jsonrpc":"2.0","method":"x","params":{"a":{"b":{"c":{}}}}}"#.utf8), limits: limits)
        }
        #expect(throws: RequestRejection.self) {
            try MCPRequestBody.messages(Array(String(repeating: " ", count: 65).utf8), limits: limits)
        }
    }

    @Test func headerValuesArePercentEncodedAndBounded() {
        #expect(HeaderValue.sanitized("plain@example.com") == "plain@example.com")
        #expect(HeaderValue.sanitized("a\r\nb: c") == "a%0D%0Ab:%20c")
        #expect(HeaderValue.sanitized("100%") == "100%25")
        #expect(HeaderValue.sanitized("é") == "%C3%A9")
        #expect(HeaderValue.sanitized(String(repeating: "x", count: 1000)).utf8.count == HeaderValue.maxClaimBytes)
        #expect(HeaderValue.sanitized(String(repeating: "\n", count: 100), maxBytes: 10) == "%0A%0A%0A")
        #expect(HeaderValue.scopes(["b", "a c"]) == "a%20c b")
        #expect(HeaderValue.quoted(#"say "hi"\"#) == #""say \"hi\"\\""#)
    }

    @Test(arguments: [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
        ("https://mcp.example.com", "https://mcp.example.com/.well-known/oauth-protected-resource"),
        ("https://mcp.example.com/", "https://mcp.example.com/.well-known/oauth-protected-resource"),
        ("http://127.0.0.1:9090/a/b?x=1", "http://127.0.0.1:9090/.well-known/oauth-protected-resource/a/b?x=1"),
    ])
    func metadataURLInsertsTheWellKnownPath(resource: String, url: String) {
        #expect(ProtectedResourceMetadata.url(forResource: resource) == url)
    }

    @Test func listenAddresses() {
        #expect(ListenAddress("127.0.0.1:9090") == .tcp(host: "127.0.0.1", port: 9090))
        #expect(ListenAddress("[::1]:80") == .tcp(host: "::1", port: 80))
        #expect(ListenAddress("unix:/run/mcp-authz.sock") == .unix(path: "/run/mcp-authz.sock"))
        #expect(ListenAddress("9090") == nil)
        #expect(ListenAddress("host:99999") == nil)
        #expect(ListenAddress(":80") == nil)
    }
}
