import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MCPAuthzServer
import MCPAuthzTestSupport
import NIOCore
import Testing

/// Tokens for the sidecar tests, minted once per run by PyJWT with a fresh key.
let testTokens = Once { () async throws -> ClaimTokens in
    let idp = "https://idp.test.example/"
    let access = "https://team.cloudflareaccess.test"
    let todos = "https://todos.test.example/mcp"
    let images = "https://images.test.example/images"
    func idpToken(_ claims: String) -> String { "{\"iss\": \"\(idp)\", \"aud\": \"\(todos)\", \(claims)}" }
    return try await ClaimTokens.mint(
        issuer: idp,
        specs: [
            "reader": idpToken(#""sub": "user-reader", "scope": "read:todos", "email": "carol@example.com", "email_verified": true"#),
            "admin": idpToken(#""sub": "user-admin", "scope": "read:todos", "groups": ["mcp-admins"]"#),
            "noscope": idpToken(#""sub": "user-none", "scope": """#),
            "audience_array": "{\"iss\": \"\(idp)\", \"aud\": [\"urn:other\", \"urn:todos\"], \"sub\": \"user-aud\", \"scope\": \"read:todos\"}",
            "expired": idpToken(#""sub": "user-old", "scope": "read:todos", "exp_in": -3600"#),
            "wrong_audience": "{\"iss\": \"\(idp)\", \"aud\": \"https://elsewhere.test.example/\", \"sub\": \"user-x\"}",
            "injection": idpToken(
                #""sub": "evil\r\nX-Injected: 1", "scope": "read:todos", "email": "eve@example.com\r\nX-Injected: 2", "email_verified": true"#
            ),
            "alice_access":
                "{\"iss\": \"\(access)\", \"aud\": \"\(images)\", \"sub\": \"a\", \"email\": \"alice@example.com\", \"email_verified\": true}",
            "mallory_access":
                "{\"iss\": \"\(access)\", \"aud\": \"\(images)\", \"sub\": \"m\", \"email\": \"mallory@example.com\", \"email_verified\": true}",
        ]
    )
}

/// The test policy: two servers, two issuers sharing the minted key (one reads the token from
/// Cloudflare Access's header).
func testPolicy(jwksFile: String) -> String {
    """
    version: 1
    issuers:
      - id: idp
        issuer: https://idp.test.example/
        jwks_file: \(jwksFile)
      - id: access
        issuer: https://team.cloudflareaccess.test
        jwks_file: \(jwksFile)
        token_header: Cf-Access-Jwt-Assertion
    servers:
      - id: todos
        match: { host: todos.test.example, path_prefix: /mcp }
        resource: https://todos.test.example/mcp
        audiences: [urn:todos]
        issuers: [idp]
        scopes_supported: [read:todos, read:billing]
        rules:
          - name: protocol basics
            allow: { methods: [initialize, ping, server/discover, "notifications/*", tools/list] }
          - name: todo tools
            when: { scopes: [read:todos] }
            allow: { tools: [list_todos, get_todo, delete_todo, "résumé"] }
          - name: billing
            when: { scopes: [read:billing] }
            allow: { tools: [get_billing] }
          - name: no deletes outside admins
            when: { not: { groups: [mcp-admins] } }
            deny: { tools: ["delete_*"] }
      - id: images
        match: { path_prefix: /images }
        resource: https://images.test.example/images
        issuers: [access]
        rules:
          - name: image generation for two people
            when: { emails: [alice@example.com, bob@example.com] }
            allow: { tools: [generateImage], methods: [tools/list] }

    """
}

/// A folder for one test's files, removed afterwards.
final class TestFolder: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "mcp-authz-server-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` against a sidecar listening on a real socket, with the test policy (or `policy`)
/// in a fresh folder.
func withSidecar<Value: Sendable>(
    policy: ((String) -> String)? = nil, configure: (inout SidecarSettings) -> Void = { _ in },
    _ body: @Sendable (SidecarUnderTest) async throws -> Value
) async throws -> Value {
    let tokens = try await testTokens.value()
    let folder = try TestFolder()
    try folder.write("jwks.json", tokens.jwks)
    let jwksFile = folder.path + "/jwks.json"
    try folder.write("policy.yaml", policy?(jwksFile) ?? testPolicy(jwksFile: jwksFile))
    var settings = SidecarSettings(policyPath: folder.path + "/policy.yaml")
    settings.listen = .tcp(host: "127.0.0.1", port: 0)
    settings.watchInterval = nil
    settings.audit.destinations = []
    settings.audit.trapsSIGUSR1 = false
    settings.audit.shutdownRetry = .milliseconds(200)
    configure(&settings)
    var logger = Logger(label: "sidecar-test")
    logger.logLevel = .critical
    let sidecar = try Sidecar.build(settings: settings, logger: logger, trapsSIGHUP: false)
    do {
        let value = try await sidecar.application.test(.live) { client in
            try await body(SidecarUnderTest(client: client, sidecar: sidecar, tokens: tokens, folder: folder))
        }
        try await sidecar.httpClient.shutdown()
        return value
    } catch {
        try? await sidecar.httpClient.shutdown()
        throw error
    }
}

/// A running sidecar and ways to ask it things.
struct SidecarUnderTest: Sendable {
    let client: any TestClientProtocol
    let sidecar: Sidecar
    let tokens: ClaimTokens
    let folder: TestFolder

    var port: Int { client.port ?? 0 }

    func token(_ name: String) -> String {
        guard let token = tokens.tokens[name] else {
            Issue.record("no minted token named \(name)")
            return ""
        }
        return token
    }

    /// Asks `/auth` as nginx does: the original request in X-Original-* headers.
    func forwardAuth(
        host: String = "todos.test.example", uri: String = "/mcp", method: String = "POST", token: String? = nil,
        headers: [String: String] = [:], body: String? = nil
    ) async throws -> TestResponse {
        var fields: [String: String] = ["X-Forwarded-Host": host, "X-Original-URI": uri, "X-Original-Method": method]
        if let token { fields["Authorization"] = "Bearer " + token }
        fields.merge(headers) { _, new in new }
        return try await send(.get, "/auth", headers: fields, body: body)
    }

    /// `tools/call` of `tool` as a 2026-07-28 client sends it without the body.
    func callTool(_ tool: String, token: String?, host: String = "todos.test.example", uri: String = "/mcp") async throws -> TestResponse {
        try await forwardAuth(
            host: host, uri: uri, token: token,
            headers: ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool]
        )
    }

    func send(_ method: HTTPRequest.Method, _ uri: String, headers: [String: String] = [:], body: String? = nil) async throws -> TestResponse {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: try #require(HTTPField.Name(name)), value: value)) }
        return try await client.executeRequest(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
    }

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }
}

extension TestResponse {
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    var text: String { String(buffer: body) }
}
