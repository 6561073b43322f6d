import AsyncHTTPClient
import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzTestSupport
import Testing

@testable import MCPAuthzTokens

/// RFC 7662 introspection against a real HTTP endpoint on 127.0.0.1 that each test controls:
/// what is sent, what is accepted, what is kept, and that every fault refuses.
@Suite struct IntrospectionTests {
    static let resource = "https://mcp.example.com/notes/mcp"

    /// A stub endpoint, a policy whose issuer `opq` introspects there (and issuer `idp`, with
    /// the minted tokens' keys, signs JWTs), and an authenticator over both.
    struct World {
        let idp: StubIdentityProvider
        let minted: MintedTokenSet
        let snapshot: PolicySnapshot
        let server: ServerConfig
        let authenticator: TokenAuthenticator
        let client: HTTPClient
        let folder: String

        static func start(
            format: String = "", auth: String = "basic", swapIssuers: Bool = false, settings: (inout IntrospectionSettings) -> Void = { _ in }
        ) async throws -> World {
            let idp = try await StubIdentityProvider.start()
            let minted = try await MintedTokenSet.mint(issuer: idp.baseURL + "/")
            let folder = NSTemporaryDirectory() + "mcp-authz-introspection-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "s3cr/et x&y\n".write(toFile: folder + "/client.secret", atomically: true, encoding: .utf8)
            try minted.jwks.write(to: URL(fileURLWithPath: folder + "/jwks.json"))
            let (signing, opaque) = swapIssuers ? (idp.baseURL + "/other", idp.baseURL + "/") : (idp.baseURL + "/", idp.baseURL + "/opaque")
            let yaml = """
                version: 1
                issuers:
                  - id: idp
                    issuer: \(signing)
                    jwks_file: \(folder)/jwks.json
                    algorithms: [RS256, PS256, ES256, EdDSA]
                  - id: opq
                    issuer: \(opaque)
                    introspection:
                      url: \(idp.baseURL)/introspect
                      client_id: mcp authz
                      client_secret_file: client.secret
                      auth: \(auth)\(format.replacingOccurrences(of: "JWKS", with: folder + "/jwks.json"))
                servers:
                  - id: notes
                    match: { path_prefix: /mcp }
                    resource: \(IntrospectionTests.resource)
                    audiences: [\(minted.audience), \(minted.resource)]
                    issuers: [idp, opq]
                    rules:
                      - name: r
                        allow: { methods: [ping] }
                """
            try yaml.write(toFile: folder + "/policy.yaml", atomically: true, encoding: .utf8)
            let snapshot = try PolicySnapshot.load(path: folder + "/policy.yaml").snapshot
            var introspection = IntrospectionSettings()
            introspection.timeout = .seconds(1)
            settings(&introspection)
            let client = JWKSFetcher.makeHTTPClient()
            let authenticator = TokenAuthenticator(
                issuers: snapshot.policy.issuers, httpClient: client, introspection: introspection,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            for cache in authenticator.caches.values { await cache.refresh(.scheduled) }
            let server = try #require(snapshot.servers["notes"]).config
            return World(
                idp: idp, minted: minted, snapshot: snapshot, server: server, authenticator: authenticator, client: client, folder: folder
            )
        }

        func stop() async {
            try? await client.shutdown()
            await idp.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }

        /// The endpoint answers this JSON object (after `delay`).
        func answer(_ members: [String: Any], delay: Duration = .zero) throws {
            let body = String(decoding: try JSONSerialization.data(withJSONObject: members), as: UTF8.self)
            idp.set("/introspect", .json(body, delay: delay))
        }

        var asked: Int { idp.requests("/introspect") }

        func authenticate(_ token: String) async throws(TokenFailure) -> VerifiedToken {
            try await authenticator.authenticate(token, for: server, in: snapshot, now: Date().timeIntervalSince1970)
        }

        /// The reason a token is refused, or "accepted".
        func outcome(_ token: String) async -> String {
            await authenticator.outcome(token, for: server, in: snapshot)
        }
    }

    static func active(exp: Double? = Date().timeIntervalSince1970 + 600, _ extra: [String: Any] = [:]) -> [String: Any] {
        var members: [String: Any] = ["active": true, "sub": "alice", "scope": "read:notes write:notes", "aud": resource, "client_id": "agent"]
        if let exp { members["exp"] = Int(exp) }
        return members.merging(extra) { $1 }
    }

    @Test func anActiveAnswerIsTheCallerAndTheEndpointIsAskedOnceWithTheClientsCredentials() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(Self.active(["email": "alice@example.com", "groups": ["staff"]]))
        let verified = try await world.authenticate("opaque~token+with/slash==")
        #expect(verified.issuerID == "opq" && verified.introspected && verified.kid == nil)
        #expect(verified.identity.subject == "alice" && verified.identity.email == "alice@example.com")
        #expect(verified.identity.scopes == ["read:notes", "write:notes"] && verified.identity.groups == ["staff"])
        #expect(verified.identity.claims["iss"]?.stringValue == world.idp.baseURL + "/opaque", "an answer without iss is the issuer's")
        #expect(verified.identity.claims["active"] == nil)
        _ = try await world.authenticate("opaque~token+with/slash==")
        #expect(world.asked == 1)
        let request = try #require(world.idp.lastRequest("/introspect"))
        #expect(request.method == "POST")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(request.form == ["token": "opaque~token+with/slash==", "token_type_hint": "access_token"])
        let basic = try #require(request.header("Authorization"))
        let credentials = String(decoding: try #require(Data(base64Encoded: String(basic.dropFirst("Basic ".count)))), as: UTF8.self)
        // RFC 6749 §2.3.1: each part form-encoded before Basic; the secret's final newline is not part of it.
        #expect(basic.hasPrefix("Basic ") && credentials == "mcp%20authz:s3cr%2Fet%20x%26y")
    }

    @Test func postAuthenticationSendsTheCredentialsInTheBody() async throws {
        let world = try await World.start(auth: "post")
        defer { Task { await world.stop() } }
        try world.answer(Self.active())
        #expect(await world.outcome("opaque-1") == "accepted")
        let request = try #require(world.idp.lastRequest("/introspect"))
        #expect(request.header("Authorization") == nil)
        #expect(request.form["client_id"] == "mcp authz" && request.form["client_secret"] == "s3cr/et x&y" && request.form["token"] == "opaque-1")
    }

    @Test func manyConcurrentRequestsWithOneTokenMakeOneCall() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(Self.active(), delay: .milliseconds(300))
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { await world.outcome("shared-opaque") } }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes == Array(repeating: "accepted", count: 50))
        #expect(world.asked == 1)
    }

    @Test func anInactiveTokenIsRefusedAndTheAnswerBrieflyKept() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(["active": false])
        #expect(await world.outcome("revoked") == "token_inactive")
        #expect(await world.outcome("revoked") == "token_inactive")
        #expect(world.asked == 1)
    }

    @Test(arguments: [
        ("status 500", StubIdentityProvider.Response(status: 500, body: "{\"active\":true}")),
        ("not JSON", .json("<html>down for maintenance</html>")),
        ("active as a string", .json("{\"active\":\"true\",\"aud\":\"\(resource)\"}")),
        ("active missing", .json("{\"aud\":\"\(resource)\"}")),
        ("an array", .json("[{\"active\":true}]")),
        ("too large", .json("{\"active\":true,\"pad\":\"" + String(repeating: "x", count: 70_000) + "\"}")),
        ("slower than the timeout", .json("{\"active\":true,\"aud\":\"\(resource)\"}", delay: .seconds(3))),
    ])
    func everyFaultRefusesAndIsNeverKept(fault: String, response: StubIdentityProvider.Response) async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.idp.set("/introspect", response)
        #expect(await world.outcome("opaque-1") == "introspection_unavailable", "\(fault)")
        #expect(await world.outcome("opaque-1") == "introspection_unavailable", "\(fault)")
        #expect(world.asked == 2, "a failed call is not remembered: \(fault)")
    }

    @Test func anEndpointThatIsDownRefusesAndNoEarlierAnswerIsUsedOnceItExpires() async throws {
        let world = try await World.start { $0.cacheTTL = .milliseconds(300) }
        defer { Task { await world.stop() } }
        try world.answer(Self.active(exp: nil))
        let before = Date().timeIntervalSince1970
        let verified = try await world.authenticate("opaque-1")
        let after = Date().timeIntervalSince1970
        // Kept from when the answer came (between the two readings) for exactly the bound.
        #expect(verified.expiresAt >= before + 0.3 - 0.001 && verified.expiresAt <= after + 0.3, "an answer without exp is kept only for the bound")
        await world.idp.stop()
        try await Task.sleep(for: .milliseconds(400))
        #expect(await world.outcome("opaque-1") == "introspection_unavailable")
    }

    @Test func theAnswerIsCheckedAsAJWTsClaimsAre() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        let now = Date().timeIntervalSince1970
        let cases: [(String, [String: Any])] = [
            ("audience_mismatch", Self.active(["aud": "https://other.example.com/mcp"])),
            ("audience_mismatch", Self.active().filter { $0.key != "aud" }),
            ("issuer_untrusted", Self.active(["iss": world.idp.baseURL + "/"])),
            ("token_expired", Self.active(exp: now - 600)),
            ("token_not_yet_valid", Self.active(["nbf": Int(now + 600)])),
            ("claims_invalid", Self.active(["exp": "tomorrow"])),
            ("accepted", Self.active(["iss": world.idp.baseURL + "/opaque", "aud": [Self.resource, "other"]])),
            ("accepted", Self.active(["aud": world.minted.audience])),
        ]
        for (index, (expected, members)) in cases.enumerated() {
            try world.answer(members)
            #expect(await world.outcome("token-\(index)") == expected, "\(members)")
        }
    }

    @Test func onlyTokensForTheIntrospectingIssuerAreSentToIt() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(Self.active())
        // A JWT of the other issuer is verified with that issuer's keys, never sent.
        #expect(await world.outcome(try world.minted.token("valid_rs256")) == "accepted")
        #expect(await world.outcome(try world.minted.token("expired")) == "token_expired")
        #expect(world.asked == 0)
        // Anything that is not a JWS goes to the endpoint.
        #expect(await world.outcome("opaque-1") == "accepted")
        #expect(world.asked == 1)
        // A token larger than the bound goes nowhere.
        #expect(await world.outcome(String(repeating: "a", count: 17_000)) == "token_too_large")
        #expect(world.asked == 1)
    }

    @Test func aJWTNamingAnIssuerThatIntrospectsEveryTokenIsIntrospectedAndWithBothIsVerifiedLocally() async throws {
        // The minted tokens name the stub's base URL + "/" as iss: make that the introspecting issuer.
        let opaque = try await World.start(swapIssuers: true)
        defer { Task { await opaque.stop() } }
        try opaque.answer(Self.active())
        #expect(await opaque.outcome(try opaque.minted.token("valid_rs256")) == "accepted")
        #expect(opaque.asked == 1, "token_format opaque: even a JWT of the issuer is introspected")

        let both = try await World.start(format: "\n    token_format: both\n    jwks_file: JWKS\n    algorithms: [RS256, ES256]", swapIssuers: true)
        defer { Task { await both.stop() } }
        try both.answer(Self.active())
        #expect(await both.outcome(try both.minted.token("valid_rs256")) == "accepted")
        #expect(await both.outcome(try both.minted.token("expired")) == "token_expired")
        #expect(both.asked == 0, "token_format both: a JWT of the issuer is verified with its keys")
        #expect(await both.outcome("opaque-1") == "accepted")
        #expect(both.asked == 1)
    }

    @Test func aServerWithoutAnIntrospectingIssuerNeverIntrospects() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(Self.active())
        var server = world.server
        server.issuers = server.issuers.filter { $0.value == "idp" }
        do {
            _ = try await world.authenticator.authenticate("opaque-1", for: server, in: world.snapshot, now: Date().timeIntervalSince1970)
            Issue.record("an opaque token was accepted by a server with no introspecting issuer")
        } catch {
            #expect(error.reason == .tokenMalformed)
        }
        #expect(world.asked == 0)
    }

    @Test func theSecretIsReadOnEveryCallSoARotatedOneIsUsedAtOnce() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        try world.answer(Self.active())
        #expect(await world.outcome("opaque-1") == "accepted")
        try "rotated\n".write(toFile: world.folder + "/client.secret", atomically: true, encoding: .utf8)
        #expect(await world.outcome("opaque-2") == "accepted")
        let basic = try #require(world.idp.lastRequest("/introspect")?.header("Authorization"))
        #expect(String(decoding: Data(base64Encoded: String(basic.dropFirst(6)))!, as: UTF8.self) == "mcp%20authz:rotated")
        try FileManager.default.removeItem(atPath: world.folder + "/client.secret")
        #expect(await world.outcome("opaque-3") == "introspection_unavailable")
    }

    @Test func answersAreReadStrictly() {
        let now = 1_000_000.0
        guard case let .active(_, until) = Introspector.answer(Array("{\"active\":true,\"exp\":1000030}".utf8), ttl: 60, now: now) else {
            Issue.record("an active answer was not read as active")
            return
        }
        #expect(until == 1_000_030, "kept until exp when that is sooner than the bound")
        guard case let .active(_, bounded) = Introspector.answer(Array("{\"active\":true,\"exp\":9999999}".utf8), ttl: 60, now: now) else {
            return
        }
        #expect(bounded == 1_000_060, "never kept past the bound")
        for body in ["{\"active\":1}", "{\"active\":null}", "{\"active\":\"false\"}", "true", "", "{\"active\":true"] {
            if case .unavailable = Introspector.answer(Array(body.utf8), ttl: 60, now: now) { continue }
            Issue.record("\(body) was read as an answer")
        }
        if case .inactive = Introspector.answer(Array("{\"active\":false,\"sub\":\"x\"}".utf8), ttl: 60, now: now) {
        } else {
            Issue.record("an inactive answer was not read as inactive")
        }
        #expect(Introspector.formEncoded(Array("a b/+=~_.-é".utf8)) == "a%20b%2F%2B%3D~_.-%C3%A9")
    }
}
