import Foundation
import Testing

@testable import MCPAuthzPolicy

/// Policy files written to a fresh temporary folder, for tests that load real files.
struct PolicyFixture {
    let folder: String

    init(_ files: [String: String]) throws {
        folder = NSTemporaryDirectory() + "mcp-authz-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    /// A folder with one file, `policy.yaml`.
    init(_ yaml: String) throws {
        try self.init(["policy.yaml": yaml])
    }

    func path(_ name: String) -> String { folder + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }

    func load(limits: PolicyLoadLimits = .default) throws(PolicyLoadError) -> PolicyLoader.Result {
        try PolicyLoader(limits: limits).load(path: folder)
    }

    /// Every diagnostic of a load that is expected to fail, as `name:line:column: message`
    /// with the folder stripped.
    func errors(limits: PolicyLoadLimits = .default) -> [String] {
        do {
            let result = try load(limits: limits)
            Issue.record("expected the policy to be rejected, but it loaded with \(result.policy.ruleCount) rules")
            return []
        } catch {
            return error.diagnostics.map { $0.description.replacingOccurrences(of: folder + "/", with: "") }
        }
    }

    func snapshot() throws -> PolicySnapshot {
        PolicySnapshot(try load().policy)
    }
}

/// Loads a policy written inline and compiles it.
func compile(_ yaml: String) throws -> PolicySnapshot {
    let fixture = try PolicyFixture(yaml)
    defer { fixture.remove() }
    return try fixture.snapshot()
}

/// The validation errors of an inline policy.
func errors(_ yaml: String, limits: PolicyLoadLimits = .default) throws -> [String] {
    let fixture = try PolicyFixture(yaml)
    defer { fixture.remove() }
    return fixture.errors(limits: limits)
}

/// The warnings of an inline policy that loads, as `name:line:column: warning: message` with the
/// folder stripped.
func loadWarnings(_ yaml: String) throws -> [String] {
    let fixture = try PolicyFixture(yaml)
    defer { fixture.remove() }
    return try fixture.load().warnings.map { $0.description.replacingOccurrences(of: fixture.folder + "/", with: "") }
}

/// A policy with one issuer (`idp`) and the given servers, each with its `match` and a rule
/// allowing `ping`, for routing questions.
func serversPolicy(_ servers: [(id: String, match: String)]) -> String {
    "version: 1\nissuers:\n  - id: idp\n    issuer: https://idp.example.com/\nservers:\n"
        + servers.map { server in
            """
              - id: \(server.id)
                match: \(server.match)
                resource: https://x.example.com/\(server.id)
                issuers: [idp]
                rules:
                  - name: r
                    allow: { methods: [ping] }

            """
        }.joined()
}

/// A policy with one issuer (`idp`) and one server (`srv`) holding the given rules, which start
/// at line 11 of the file when there are no extras (rule lines are indented by 6 spaces).
func policy(rules: String, serverExtra: String = "", issuerExtra: String = "") -> String {
    """
    version: 1
    issuers:
      - id: idp
        issuer: https://idp.example.com/\(issuerExtra)
    servers:
      - id: srv
        match: { host: srv.example.com, path_prefix: /mcp }
        resource: https://srv.example.com/mcp
        issuers: [idp]\(serverExtra)
        rules:

    """ + rules
}

extension Identity {
    static func caller(
        subject: String = "user-1", email: String? = nil, scopes: Set<String> = [], groups: Set<String> = [],
        client: String? = nil, claims: [String: ClaimValue] = [:], issuer: String = "idp"
    ) -> Identity {
        Identity(issuerID: issuer, subject: subject, email: email, clientID: client, scopes: scopes, groups: groups, claims: claims)
    }
}

extension PolicySnapshot {
    func decide(_ identity: Identity, _ method: String, _ name: String? = nil, server: String = "srv") -> Decision {
        decide(DecisionInput(serverID: server, identity: identity, operation: MCPOperation(method: method, name: name)))
    }
}
