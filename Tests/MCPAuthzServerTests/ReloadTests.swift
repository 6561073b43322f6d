import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzPolicy
import MCPAuthzServer
import MCPAuthzTestSupport
import MCPAuthzTokens
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Hot reload: a new policy is validated whole and swapped atomically; a bad one changes nothing.
@Suite struct ReloadTests {
    /// The test policy, with `alpha` allowed to readers in version "A" and not in "B".
    static func versioned(_ version: String) -> (String) -> String {
        { jwks in
            testPolicy(jwksFile: jwks).replacingOccurrences(
                of: "allow: { tools: [list_todos, get_todo, delete_todo, \"résumé\"] }",
                with: "allow: { tools: [list_todos, get_todo, delete_todo\(version == "A" ? ", alpha" : "")] }"
            )
        }
    }

    @Test func validEditTakesEffectOnReload() async throws {
        try await withSidecar(policy: Self.versioned("A")) { sidecar in
            let before = try await sidecar.callTool("alpha", token: sidecar.token("reader"))
            #expect(before.status == .ok)
            try sidecar.folder.write("policy.yaml", Self.versioned("B")(sidecar.folder.path + "/jwks.json"))
            guard case let .installed(revision) = await sidecar.sidecar.reloader.reload(.request) else {
                Issue.record("reload did not install the new policy")
                return
            }
            let after = try await sidecar.callTool("alpha", token: sidecar.token("reader"))
            #expect(after.status == .forbidden)
            #expect(after.header("X-Authz-Policy-Revision") == revision)
            #expect(revision != before.header("X-Authz-Policy-Revision"))
        }
    }

    @Test func invalidEditKeepsThePolicyInForce() async throws {
        try await withSidecar(policy: Self.versioned("A")) { sidecar in
            let revision = sidecar.sidecar.store.runtime.revision
            try sidecar.folder.write("policy.yaml", Self.versioned("A")(sidecar.folder.path + "/jwks.json") + "  - id: broken\n    rules: 7\n")
            guard case let .rejected(error) = await sidecar.sidecar.reloader.reload(.request) else {
                Issue.record("an invalid policy was not rejected")
                return
            }
            #expect(error.diagnostics.contains { $0.location.file.hasSuffix("policy.yaml") && $0.location.line > 0 })
            #expect(sidecar.sidecar.store.runtime.revision == revision)
            let response = try await sidecar.callTool("alpha", token: sidecar.token("reader"))
            #expect(response.status == .ok)
            #expect(response.header("X-Authz-Policy-Revision") == revision)
            let metrics = try await sidecar.send(.get, "/metrics")
            #expect(metrics.text.contains(#"mcp_authz_policy_reloads_total{result="failure"} 1"#))
        }
    }

    @Test func unchangedFilesDoNotSwap() async throws {
        try await withSidecar { sidecar in
            let runtime = sidecar.sidecar.store.runtime
            guard case .unchanged = await sidecar.sidecar.reloader.reload(.request) else {
                Issue.record("reloading the same files installed a new policy")
                return
            }
            #expect(sidecar.sidecar.store.runtime === runtime)
        }
    }

    @Test func keyCachesSurviveReloadsThatKeepTheirSource() async throws {
        try await withSidecar(policy: Self.versioned("A")) { sidecar in
            let before = sidecar.sidecar.store.runtime.authenticator.caches
            try sidecar.folder.write("policy.yaml", Self.versioned("B")(sidecar.folder.path + "/jwks.json"))
            await sidecar.sidecar.reloader.reload(.request)
            let after = sidecar.sidecar.store.runtime.authenticator.caches
            #expect(before["idp"] === after["idp"])
            #expect(before["access"] === after["access"])

            let moved = Self.versioned("B")(sidecar.folder.path + "/jwks.json").replacingOccurrences(
                of: "issuer: https://team.cloudflareaccess.test", with: "issuer: https://other-team.cloudflareaccess.test"
            )
            try sidecar.folder.write("policy.yaml", moved)
            await sidecar.sidecar.reloader.reload(.request)
            let changed = sidecar.sidecar.store.runtime.authenticator.caches
            #expect(changed["idp"] === after["idp"])
            #expect(changed["access"] !== after["access"])
        }
    }

    @Test func editedFileIsNoticedByTheWatch() async throws {
        try await withSidecar(policy: Self.versioned("A"), configure: { $0.watchInterval = .milliseconds(100) }) { sidecar in
            #expect(try await sidecar.callTool("alpha", token: sidecar.token("reader")).status == .ok)
            try sidecar.folder.write("policy.yaml", Self.versioned("B")(sidecar.folder.path + "/jwks.json"))
            let changed = try await eventually {
                try await sidecar.callTool("alpha", token: sidecar.token("reader")).status == .forbidden
            }
            #expect(changed)
        }
    }

    /// A catalog is part of the policy: editing it alone reloads, and annotations follow it.
    @Test func anEditedCatalogIsNoticedByTheWatch() async throws {
        let catalog: @Sendable (Bool) -> String = { destructive in
            #"{"tools": [{"name": "delete_todo", "annotations": {"destructiveHint": \#(destructive)}}]}"#
        }
        let policy = { (jwks: String) in
            testPolicy(jwksFile: jwks)
                .replacingOccurrences(
                    of: "    scopes_supported: [read:todos, read:billing]",
                    with: "    scopes_supported: [read:todos, read:billing]\n    catalog: tools.json"
                )
                .replacingOccurrences(
                    of: "        deny: { tools: [\"delete_*\"] }", with: "        deny: { annotations: { destructiveHint: true } }"
                )
        }
        try await withSidecar(
            policy: { jwks in
                try? catalog(false).write(toFile: (jwks as NSString).deletingLastPathComponent + "/tools.json", atomically: true, encoding: .utf8)
                return policy(jwks)
            },
            configure: { $0.watchInterval = .milliseconds(100) }
        ) { sidecar in
            #expect(try await sidecar.callTool("delete_todo", token: sidecar.token("reader")).status == .ok)
            try sidecar.folder.write("tools.json", catalog(true))
            let changed = try await eventually {
                try await sidecar.callTool("delete_todo", token: sidecar.token("reader")).status == .forbidden
            }
            #expect(changed)
        }
    }

    /// A Kubernetes ConfigMap volume: `policy.yaml -> ..data/policy.yaml`, `..data -> ..v1`; an
    /// update writes `..v2` and swaps `..data` in one rename.
    @Test func configMapSymlinkSwapIsNoticed() async throws {
        let tokens = try await testTokens.value()
        let folder = try TestFolder()
        let manager = FileManager.default
        try folder.write("jwks.json", tokens.jwks)
        let volume = folder.path + "/volume"
        try manager.createDirectory(atPath: volume + "/..v1", withIntermediateDirectories: true)
        try Self.versioned("A")(folder.path + "/jwks.json").write(toFile: volume + "/..v1/policy.yaml", atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: volume + "/..data", withDestinationPath: "..v1")
        try manager.createSymbolicLink(atPath: volume + "/policy.yaml", withDestinationPath: "..data/policy.yaml")

        let policy = { (_: String) in Self.versioned("A")(folder.path + "/jwks.json") }
        try await withSidecar(
            policy: policy,
            configure: {
                $0.policyPath = volume
                $0.watchInterval = .milliseconds(100)
            }
        ) { sidecar in
            #expect(try await sidecar.callTool("alpha", token: sidecar.token("reader")).status == .ok)
            try manager.createDirectory(atPath: volume + "/..v2", withIntermediateDirectories: true)
            try Self.versioned("B")(folder.path + "/jwks.json").write(toFile: volume + "/..v2/policy.yaml", atomically: true, encoding: .utf8)
            try manager.createSymbolicLink(atPath: volume + "/..data_tmp", withDestinationPath: "..v2")
            #expect(rename(volume + "/..data_tmp", volume + "/..data") == 0)
            let changed = try await eventually {
                try await sidecar.callTool("alpha", token: sidecar.token("reader")).status == .forbidden
            }
            #expect(changed)
        }
    }

    /// Requests keep flowing while the policy flips between two versions: none fails, and each
    /// answer is the one its policy revision gives, never a mix.
    @Test func reloadsUnderConcurrentRequestsNeverMixPolicies() async throws {
        try await withSidecar(policy: Self.versioned("A")) { sidecar in
            let jwks = sidecar.folder.path + "/jwks.json"
            let revisionA = sidecar.sidecar.store.runtime.revision
            try sidecar.folder.write("policy.yaml", Self.versioned("B")(jwks))
            guard case let .installed(revisionB) = await sidecar.sidecar.reloader.reload(.request) else {
                Issue.record("version B did not install")
                return
            }
            let expected = [revisionA: 200, revisionB: 403]
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let token = sidecar.token("reader")
            let port = sidecar.port
            let stop = StopFlag()
            let tally = Tally()

            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !stop.isSet {
                            var request = HTTPClientRequest(url: "http://localhost:\(port)/auth")
                            request.headers.add(name: "X-Original-Method", value: "POST")
                            request.headers.add(name: "X-Original-URI", value: "/mcp")
                            request.headers.add(name: "X-Forwarded-Host", value: "todos.test.example")
                            request.headers.add(name: "Authorization", value: "Bearer " + token)
                            request.headers.add(name: "MCP-Protocol-Version", value: "2026-07-28")
                            request.headers.add(name: "Mcp-Method", value: "tools/call")
                            request.headers.add(name: "Mcp-Name", value: "alpha")
                            do {
                                let response = try await client.execute(request, timeout: .seconds(10))
                                let revision = response.headers.first(name: "X-Authz-Policy-Revision") ?? "?"
                                let status = Int(response.status.code)
                                tally.state.withLock { tally in
                                    tally.answers += 1
                                    tally.byRevision[revision, default: 0] += 1
                                    if expected[revision] != status { tally.problems.append("revision \(revision) answered \(status)") }
                                }
                            } catch {
                                tally.state.withLock { $0.problems.append("request failed: \(error)") }
                            }
                        }
                    }
                }
                // At least 20 reloads, and on until 200 answers came back (a loaded machine
                // answers fewer in the same time), within a bound.
                var round = 0
                while round < 20 || (tally.state.withLock { $0.answers } < 200 && round < 1000) {
                    try sidecar.folder.write("policy.yaml", Self.versioned(round.isMultiple(of: 2) ? "A" : "B")(jwks))
                    await sidecar.sidecar.reloader.reload(.request)
                    try await Task.sleep(for: .milliseconds(20))
                    round += 1
                }
                stop.set()
                try await group.waitForAll()
            }
            try await client.shutdown()
            let result = tally.state.withLock { $0 }
            #expect(result.problems.isEmpty, "\(result.problems.prefix(5))")
            #expect(result.answers > 100)
            #expect(result.byRevision[revisionA, default: 0] > 0 && result.byRevision[revisionB, default: 0] > 0)
        }
    }
}

private final class StopFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

private final class Tally: Sendable {
    struct State {
        var answers = 0
        var byRevision: [String: Int] = [:]
        var problems: [String] = []
    }

    let state = Mutex(State())
}
