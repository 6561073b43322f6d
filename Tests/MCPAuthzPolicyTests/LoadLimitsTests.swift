import Foundation
import Testing

@testable import MCPAuthzPolicy

/// Bad input gives a clear error, never a crash or a hang.
@Suite struct LoadLimitsTests {
    func errors(bytes: Data) throws -> [String] {
        let fixture = try PolicyFixture([:])
        defer { fixture.remove() }
        try bytes.write(to: URL(fileURLWithPath: fixture.path("policy.yaml")))
        return fixture.errors()
    }

    @Test func aFileOverTheSizeLimitIsRefusedBeforeParsing() throws {
        let yaml = "version: 1\n" + String(repeating: "# padding\n", count: 200)
        #expect(
            try MCPAuthzPolicyTests.errors(yaml, limits: PolicyLoadLimits(maxFileBytes: 1_000)) == [
                "policy.yaml:1:1: file is larger than the limit of 1000 bytes"
            ])
    }

    @Test func aBinaryFileIsRefused() throws {
        #expect(try errors(bytes: Data([0x76, 0x65, 0x00, 0xFF, 0x10])) == ["policy.yaml:1:1: file is binary (NUL byte at offset 2), not YAML"])
    }

    @Test func invalidUTF8IsRefused() throws {
        #expect(try errors(bytes: Data("version: 1\nx: ".utf8) + Data([0xC3, 0x28])) == ["policy.yaml:1:1: file is not valid UTF-8 text"])
    }

    @Test func deeplyNestedBlockYAMLIsRefusedBeforeTheParserRecurses() throws {
        var yaml = "version: 1\nservers:\n"
        for depth in 0..<500 { yaml += String(repeating: " ", count: depth) + "k:\n" }
        let problems = try MCPAuthzPolicyTests.errors(yaml)
        #expect(problems.count == 1)
        #expect(problems.first?.hasSuffix("YAML nesting is deeper than the limit of 64 levels") == true)
    }

    @Test func deeplyNestedFlowYAMLIsRefused() throws {
        let yaml = "version: 1\nservers: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let problems = try MCPAuthzPolicyTests.errors(yaml)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("policy.yaml:2:") == true)
        #expect(problems.first?.hasSuffix("YAML nesting is deeper than the limit of 64 levels") == true)
    }

    @Test func sequencesNestedByDashesOnOneLineCount() throws {
        let yaml = "version: 1\nservers:\n" + String(repeating: "- ", count: 100) + "x\n"
        #expect(try MCPAuthzPolicyTests.errors(yaml) == ["policy.yaml:3:1: YAML nesting is deeper than the limit of 64 levels"])
    }

    @Test func anchorsAndAliasesAreRefused() throws {
        let yaml = """
            version: 1
            a: &a [x, x, x]
            b: [*a, *a]
            """
        #expect(
            try MCPAuthzPolicyTests.errors(yaml) == [
                "policy.yaml:2:4: anchors and aliases (&name, *name) are not supported in policy files; write the values out, or quote a value that starts with '&'"
            ]
        )
    }

    @Test func starsInsideQuotedAndPlainValuesAreNotAliases() throws {
        let snapshot = try compile(
            policy(
                rules: """
                          - name: globs   # a comment with *stars and &amps
                            allow: { tools: ["*", 'delete_*', get_*] }
                    """
            )
        )
        #expect(snapshot.decide(.caller(), "tools/call", "anything").isAllowed)
    }

    @Test func blockScalarsAreSkippedByThePrescan() {
        let text = "a: |\n  *not an alias\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nb: 1\n"
        #expect(YAMLPrescan.check(text, maxDepth: 8) == nil)
        #expect(YAMLPrescan.check("a: |\n  text\nb: *alias\n", maxDepth: 8)?.line == 3)
    }

    @Test func malformedYAMLIsReportedAtItsPosition() throws {
        #expect(
            try MCPAuthzPolicyTests.errors("version: 1\nservers: [ {id: x\n") == [
                "policy.yaml:3:1: invalid YAML: did not find expected ',' or '}' while parsing a flow mapping"
            ])
    }

    @Test func aDuplicatedKeyIsReported() throws {
        let problems = try MCPAuthzPolicyTests.errors("version: 1\nservers: []\nversion: 1\n")
        #expect(problems == ["policy.yaml:1:1: key 'version' appears more than once in this mapping"])
    }

    @Test func anEmptyFileIsReported() throws {
        #expect(try MCPAuthzPolicyTests.errors("# nothing\n") == ["policy.yaml:1:1: policy file is empty"])
    }

    @Test func aTopLevelThatIsNotAMappingIsReported() throws {
        #expect(try MCPAuthzPolicyTests.errors("- a\n- b\n") == ["policy.yaml:1:1: a policy file must be a mapping, found a list"])
    }

    @Test func tooManyNodesIsReportedOnce() throws {
        let yaml = "version: 1\nservers:\n" + (0..<100).map { "  - id: s\($0)\n" }.joined()
        let problems = try MCPAuthzPolicyTests.errors(yaml, limits: PolicyLoadLimits(maxNodes: 50))
        #expect(problems.filter { $0.contains("more YAML nodes than the limit") }.count == 1)
    }

    @Test func aFolderSkipsHiddenEntriesAndTestFiles() throws {
        let rule = policy(rules: "      - name: r\n        allow: { tools: [t] }\n")
        let fixture = try PolicyFixture(["a.yaml": rule, ".hidden.yaml": "not: [valid", "a_test.yaml": "cases: []", "notes.txt": "x"])
        defer { fixture.remove() }
        #expect(try fixture.load().policy.files == [fixture.path("a.yaml")])
    }

    @Test func aMissingPathIsReported() throws {
        #expect(throws: PolicyLoadError.self) { try PolicyLoader().load(path: "/nonexistent/policies") }
    }
}
