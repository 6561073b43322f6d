import Foundation
import Testing

@testable import MCPAuthzPolicy

/// Mangled policy files load or are rejected with positioned diagnostics; they never crash the
/// loader. Mutations of the shipped examples, from fixed seeds so a failure reproduces.
@Suite struct LoaderRobustnessTests {
    static let examples: [String] = {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies").standardized
        return ["issuers.yaml", "images.yaml", "todos.yaml", "platform.yaml"].compactMap {
            try? String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)
        }
    }()

    /// Mutated files per seed; `MCP_AUTHZ_MUTATIONS=20000 swift test --filter LoaderRobustness`
    /// makes a long run.
    static let mutations = ProcessInfo.processInfo.environment["MCP_AUTHZ_MUTATIONS"].flatMap(Int.init) ?? 60

    /// Characters that matter to YAML and to the policy format.
    static let alphabet = Array(" \n\t:-[]{},#&*!|>'\"%@`?\\/.0aZé\u{0}\u{7F}")

    @Test(arguments: 0..<8)
    func mutatedPoliciesNeverCrashTheLoader(seed: UInt64) throws {
        #expect(Self.examples.count == 4)
        var rng = IndexEquivalenceTests.SeededGenerator(state: seed)
        var loaded = 0
        var rejected = 0
        for _ in 0..<Self.mutations {
            var text = Array(Self.examples.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...6, using: &rng) where !text.isEmpty {
                let at = Int.random(in: 0..<text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: text.remove(at: at)
                case 1: text.insert(Self.alphabet.randomElement(using: &rng)!, at: at)
                default: text[at] = Self.alphabet.randomElement(using: &rng)!
                }
            }
            let fixture = try PolicyFixture(["policy.yaml": String(text), "issuers.yaml": Self.examples[0]])
            defer { fixture.remove() }
            do {
                _ = try fixture.load()
                loaded += 1
            } catch {
                rejected += 1
                #expect(!error.diagnostics.isEmpty)
                for diagnostic in error.diagnostics {
                    #expect(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "\(diagnostic)")
                }
            }
        }
        #expect(loaded + rejected == Self.mutations)
        #expect(rejected > 0, "mutations that never break the policy test nothing")
    }
}
