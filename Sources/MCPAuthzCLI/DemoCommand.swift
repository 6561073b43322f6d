import ArgumentParser
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPAuthzServer
import MCPAuthzTokens
import NIOCore

/// `mcp-authz demo`: the sidecar with an example policy and a throwaway issuer, and curl lines
/// that show each kind of answer.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the sidecar with an example policy and a throwaway local issuer, and print curl lines to try.",
        discussion: """
            The issuer's ES256 key is made at start and lives only in memory; its JWKS is served by the \
            sidecar itself on loopback. The policy is written to a temporary folder (printed) and \
            watched, so editing it changes the answers. Stop with Ctrl-C.
            """
    )

    @Option(help: "Address to listen on (HOST:PORT with a fixed port).")
    var listen = "127.0.0.1:9090"

    @Option(help: "Log level of the sidecar's own log lines (on stderr).")
    var logLevel = "warning"

    func run() async throws {
        guard case let .tcp(host, port)? = ListenAddress(listen), port != 0 else {
            throw ValidationError("--listen needs HOST:PORT with a fixed port")
        }
        let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let issuer = DemoIssuer(url: base + "/demo-issuer")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-authz-demo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let policyPath = folder + "/policy.yaml"
        try Self.policy(base: base, issuer: issuer.url).write(toFile: policyPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let logger = ServeCommand.logger(level: Logger.Level(rawValue: logLevel) ?? .warning)
        var settings = SidecarSettings(policyPath: policyPath)
        settings.listen = .tcp(host: host, port: port)
        settings.watchInterval = .seconds(1)
        settings.audit.destinations = [.file(folder + "/audit.jsonl")]
        let sidecar: Sidecar
        do {
            sidecar = try Sidecar.build(settings: settings, logger: logger, extra: { issuer.respond(to: $0) })
        } catch {
            throw ValidationError("the demo could not start: \(error)")
        }
        let printed = Self.instructions(base: base, policyPath: policyPath, auditPath: folder + "/audit.jsonl", issuer: issuer)
        do {
            try await runUntilStopped(sidecar, printing: printed)
        } catch let error as SidecarListenError {
            printError("\(error.message); the demo did not start (choose another --listen)")
            throw ExitCode(1)
        }
    }

    /// Runs the sidecar, and prints the instructions once its issuer's keys are served. Ends
    /// when the sidecar ends (SIGTERM, SIGINT, or a failure to start), whatever the printing is at.
    private func runUntilStopped(_ sidecar: Sidecar, printing printed: String) async throws {
        let store = sidecar.store
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await sidecar.run()
                return true
            }
            group.addTask {
                // Keys are fetched from this very server, so wait until it listens and serves
                // them, then print.
                while !sidecar.isListening { try await Task.sleep(for: .milliseconds(20)) }
                while !store.issuersSettled || store.runtime.authenticator.caches.values.contains(where: { $0.availability != .ready }) {
                    for cache in store.runtime.authenticator.caches.values where cache.availability != .ready {
                        await cache.refresh(.onDemand)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                FileHandle.standardOutput.write(Data((printed + "\n").utf8))
                return false
            }
            // A sidecar that fails throws here, and leaving the group cancels the printing task.
            for try await sidecarEnded in group where sidecarEnded {
                group.cancelAll()
                return
            }
        }
    }

    static func policy(base: String, issuer: String) -> String {
        """
        # mcp-authz demo policy: edit it while the demo runs and the next request sees the change.
        version: 1
        issuers:
          - id: demo
            issuer: \(issuer)
            jwks_uri: \(issuer)/jwks.json
            algorithms: [ES256]
        servers:
          - id: weather
            match: { path_prefix: /mcp }
            resource: \(base)/mcp
            issuers: [demo]
            scopes_supported: [weather:read, weather:admin]
            rules:
              - name: protocol basics
                allow: { methods: [initialize, ping, server/discover, "notifications/*", tools/list] }
              - name: forecasts need weather:read
                when: { scopes: [weather:read] }
                allow: { tools: [get_forecast] }
              - name: images for alice only
                when: { emails: [alice@example.com] }
                allow: { tools: [generateImage] }
              - name: weather admins use every tool
                when: { scopes: [weather:admin] }
                allow: { tools: ["*"] }
              - name: no deletes outside the admins group
                when: { not: { groups: [admins] } }
                deny: { tools: ["delete_*"] }

        """
    }

    /// The lines printed once the sidecar is ready. Each curl line follows a comment saying
    /// what it shows and `expect STATUS` (and a text the answer contains); the test suite runs
    /// them and checks exactly that.
    static func instructions(base: String, policyPath: String, auditPath: String, issuer: DemoIssuer) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let resource = base + "/mcp"
        func token(_ subject: String, _ email: String, scope: String, groups: [String], expiresIn: Int) -> String {
            issuer.mint([
                "iss": issuer.url, "sub": subject, "aud": resource, "iat": now, "exp": now + expiresIn, "email": email,
                "email_verified": true, "scope": scope, "groups": groups,
            ])
        }
        let alice = token("user-alice", "alice@example.com", scope: "weather:read", groups: [], expiresIn: 12 * 3600)
        let bob = token("user-bob", "bob@example.com", scope: "", groups: [], expiresIn: 12 * 3600)
        let expired = token("user-alice", "alice@example.com", scope: "weather:read", groups: [], expiresIn: -3600)
        let forward = "curl -i \(base)/auth -H 'X-Original-Method: POST' -H 'X-Original-URI: /mcp'"
        let modern = "-H 'MCP-Protocol-Version: 2026-07-28'"
        return """
            mcp-authz demo is ready on \(base)
              policy: \(policyPath) (watched: edit it and try again)
              audit log: \(auditPath) (one line per decision; check it with: mcp-authz audit verify \(auditPath))
              issuer: \(issuer.url) (ES256 key made at start, JWKS at \(issuer.url)/jwks.json)

            Paste into another shell:

            ALICE='\(alice)'
            BOB='\(bob)'
            EXPIRED='\(expired)'

            # alice (scope weather:read) calls get_forecast: expect 200, "X-Authz-Email: alice@example.com"
            \(forward) -H "Authorization: Bearer $ALICE" \(modern) -H 'Mcp-Method: tools/call' -H 'Mcp-Name: get_forecast'

            # alice calls generateImage, the JSON-RPC body forwarded as njs or Envoy would: expect 200, "X-Authz-Subject: user-alice"
            \(forward) -H "Authorization: Bearer $ALICE" -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"generateImage"}}'

            # bob calls delete_forecast, denied by a rule: expect 403, "X-Authz-Reason: denied_by_rule"
            \(forward) -H "Authorization: Bearer $BOB" \(modern) -H 'Mcp-Method: tools/call' -H 'Mcp-Name: delete_forecast'

            # bob calls get_forecast without weather:read: expect 403, "insufficient_scope"
            \(forward) -H "Authorization: Bearer $BOB" \(modern) -H 'Mcp-Method: tools/call' -H 'Mcp-Name: get_forecast'

            # bob says get_forecast in Mcp-Name but calls generateImage in the body: expect 403, "X-Authz-Reason: header_mismatch"
            \(forward) -H "Authorization: Bearer $BOB" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: get_forecast' -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"generateImage"}}'

            # an expired token: expect 401, "invalid_token"
            \(forward) -H "Authorization: Bearer $EXPIRED" \(modern) -H 'Mcp-Method: tools/list'

            # no token at all: expect 401, "resource_metadata="
            \(forward) \(modern) -H 'Mcp-Method: tools/list'

            # the protected-resource metadata that 401 points to: expect 200, "authorization_servers"
            curl -i \(base)/.well-known/oauth-protected-resource/mcp

            # the decision API an MCP server can call: expect 200, "\\"allow\\":true"
            curl -i \(base)/v1/decide -d "{\\"server\\":\\"weather\\",\\"token\\":\\"$ALICE\\",\\"method\\":\\"tools/call\\",\\"name\\":\\"get_forecast\\"}"

            # which tools bob may see in tools/list: expect 200, "\\"tools\\":[]"
            curl -i \(base)/v1/filter -d "{\\"server\\":\\"weather\\",\\"token\\":\\"$BOB\\",\\"tools\\":[\\"get_forecast\\",\\"generateImage\\"]}"

            Stop with Ctrl-C.
            """
    }
}

/// A throwaway token issuer: one ES256 key made at start, never written anywhere.
struct DemoIssuer: Sendable {
    let url: String
    let kid = "demo-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private let key = P256.Signing.PrivateKey()

    init(url: String) {
        self.url = url
    }

    var jwks: String {
        let raw = key.publicKey.rawRepresentation
        let x = Self.base64url(raw.prefix(32))
        let y = Self.base64url(raw.suffix(32))
        return #"{"keys":[{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"\#(kid)","x":"\#(x)","y":"\#(y)"}]}"#
    }

    /// The issuer's endpoints: its JWKS.
    func respond(to request: Request) -> Response? {
        guard request.uri.path == URL(string: url)?.path.appending("/jwks.json") else { return nil }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: jwks)))
    }

    /// A compact JWS of `claims`, signed with the demo key.
    func mint(_ claims: [String: any Sendable]) -> String {
        let header = #"{"alg":"ES256","typ":"JWT","kid":"\#(kid)"}"#
        let payload = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        let input = Self.base64url(Data(header.utf8)) + "." + Self.base64url(payload)
        let signature = (try? key.signature(for: Data(input.utf8)).rawRepresentation) ?? Data()
        return input + "." + Self.base64url(signature)
    }

    static func base64url(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
