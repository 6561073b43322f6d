import Foundation
import Testing

@testable import MCPAuthzPolicy

/// A server's catalog (`catalog:`): annotations as targets, what validation learns from it,
/// the `x-mcp-header` mapping and the pinned definition hashes.
@Suite struct CatalogTests {
    static let catalog = """
        {"tools": [
          {"name": "get_customer", "description": "Read one customer.",
           "inputSchema": {"type": "object", "properties": {
             "customer_id": {"type": "string", "x-mcp-header": "Customer"},
             "filter": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}},
             "limit": {"type": "integer", "x-mcp-header": "Limit"}}},
           "annotations": {"readOnlyHint": true}},
          {"name": "delete_customer", "inputSchema": {"type": "object", "properties": {"customer_id": {"type": "string"}}},
           "annotations": {"destructiveHint": true}},
          {"name": "refund", "inputSchema": {"type": "object", "properties": {"amount": {"type": "number"}, "dry_run": {"type": "boolean"}}},
           "annotations": {"destructiveHint": true, "idempotentHint": false}}
        ]}
        """

    /// A folder with `policy.yaml` (one server `srv` with the rules, `catalog: tools.json`) and
    /// `tools.json`.
    func fixture(rules: String, catalog: String = Self.catalog, serverExtra: String = "") throws -> PolicyFixture {
        try PolicyFixture([
            "policy.yaml": policy(rules: rules, serverExtra: "\n    catalog: tools.json" + serverExtra), "tools.json": catalog,
        ])
    }

    @Test func annotationsTargetTheToolsWhoseCatalogEntryHasThem() throws {
        let fixture = try fixture(
            rules: """
                      - name: everything
                        allow: { tools: ["*"] }
                      - name: destructive tools need admins
                        when: { not: { groups: [admins] } }
                        deny: { annotations: { destructiveHint: true } }
                """
        )
        defer { fixture.remove() }
        let s = try fixture.snapshot()
        #expect(s.decide(.caller(), "tools/call", "get_customer").isAllowed)
        #expect(s.decide(.caller(), "tools/call", "delete_customer").rule == "destructive tools need admins")
        #expect(s.decide(.caller(), "tools/call", "refund").rule == "destructive tools need admins")
        #expect(s.decide(.caller(groups: ["admins"]), "tools/call", "refund").isAllowed)
        // A tool the catalog does not know has no annotations: the deny does not reach it.
        #expect(s.decide(.caller(), "tools/call", "new_tool").isAllowed)
    }

    @Test func annotationValuesAreTypedAndAllMustMatch() throws {
        let fixture = try fixture(
            rules: """
                      - name: destructive but not idempotent
                        allow: { annotations: { destructiveHint: true, idempotentHint: false } }
                      - name: by string
                        allow: { annotations: { readOnlyHint: "true" } }
                """
        )
        defer { fixture.remove() }
        let s = try fixture.snapshot()
        #expect(s.decide(.caller(), "tools/call", "refund").isAllowed)
        #expect(!s.decide(.caller(), "tools/call", "delete_customer").isAllowed)
        #expect(!s.decide(.caller(), "tools/call", "get_customer").isAllowed)
    }

    @Test func validationWarnsOfNamesPathsAndTypesTheCatalogContradicts() throws {
        let fixture = try fixture(
            rules: """
                      - name: readers
                        when: { arguments: { customer_idd: "c-*", limit: "10", "filter.region": eu } }
                        allow: { tools: [get_custmer, get_customer, "list_*"] }
                      - name: refunds
                        when: { arguments: { amount: { max: 100, pattern: "1*" }, dry_run: true } }
                        allow: { tools: [refund] }
                      - name: nothing is this
                        deny: { annotations: { openWorldHint: true } }
                """
        )
        defer { fixture.remove() }
        let warnings = try fixture.load().warnings.map { $0.description.replacingOccurrences(of: fixture.folder + "/", with: "") }
        let expected = [
            "policy.yaml:13:30: warning: argument 'customer_idd' is not in the inputSchema of tool 'get_customer'",
            "policy.yaml:13:51: warning: argument 'limit' is an integer in tool 'get_customer', but a pattern matches strings only",
            "policy.yaml:14:26: warning: no tool 'get_custmer' in the catalog tools.json (did you mean 'get_customer'?)",
            "policy.yaml:14:53: warning: pattern 'list_*' matches no tool in the catalog tools.json",
            "policy.yaml:16:30: warning: argument 'amount' is a number in tool 'refund', but a pattern matches strings only",
            "policy.yaml:19:32: warning: no tool in the catalog tools.json has annotations openWorldHint: true",
        ]
        #expect(warnings == expected, "\(warnings)")
    }

    @Test func catalogProblemsAreErrorsAtTheCatalogKey() throws {
        let cases: [(String, String)] = [
            ("not json", "catalog "),
            (#"{"tools": [{"name": "a"}, {"name": "a"}]}"#, "tool 'a' is listed twice"),
            (#"{"result": {"tools": [{"description": "x"}]}}"#, "a tool has no string 'name'"),
            (#"{"prompts": []}"#, "no 'tools' list"),
            (
                #"{"tools": [{"name": "a", "inputSchema": {"properties": {"n": {"type": "number", "x-mcp-header": "N"}}}}]}"#,
                "x-mcp-header 'N' marks 'n', which is not of type string, integer or boolean"
            ),
            (
                #"{"tools": [{"name": "a", "inputSchema": {"properties": {"n": {"type": "string", "x-mcp-header": "N:1"}}}}]}"#,
                "not an HTTP field-name token"
            ),
        ]
        for (catalog, expected) in cases {
            let fixture = try fixture(rules: "      - name: r\n        allow: { tools: [a] }\n", catalog: catalog)
            defer { fixture.remove() }
            let found = fixture.errors()
            #expect(found.contains { $0.hasPrefix("policy.yaml:10:14: catalog ") && $0.contains(expected) }, "\(catalog): \(found)")
        }
        let missing = try PolicyFixture(policy(rules: "      - name: r\n        allow: { tools: [a] }\n", serverExtra: "\n    catalog: gone.json"))
        defer { missing.remove() }
        #expect(missing.errors().contains { $0.contains("gone.json: cannot open file for reading") })
    }

    @Test func annotationsAndPinningNeedACatalog() throws {
        let found = try errors(
            policy(
                rules: """
                          - name: r
                            deny: { annotations: { destructiveHint: true } }
                    """,
                serverExtra: "\n    pin_definitions: true"
            )
        )
        #expect(found.contains { $0.contains("pin_definitions needs the server's catalog") }, "\(found)")
        #expect(found.contains { $0.contains("rule 'r': annotations need the server's catalog") }, "\(found)")
    }

    @Test func headerParametersAndDefinitionHashes() throws {
        let catalog = try ToolCatalog(json: try ClaimValue.parseJSON(Array(Self.catalog.utf8)), file: "tools.json")
        let tool = try #require(catalog.toolsByName["get_customer"])
        #expect(tool.headerParameters["region"] == HeaderParameter(header: "Region", path: "filter.region", kind: .string))
        #expect(tool.headerParameters["limit"]?.value("42") == .integer(42))
        #expect(tool.headerParameters["limit"]?.value("042") == nil)
        #expect(tool.headerParameters["limit"]?.value("9007199254740992") == nil)
        #expect(tool.headerParameters["customer"]?.value(" x ") == .string(" x "))
        // The hash is of the pinned fields as canonical JSON: key order does not matter, a
        // changed description does, fields outside the definition (title) do not.
        let definition: [String: ClaimValue] = [
            "name": .string("t"), "description": .string("d"), "inputSchema": .object(["type": .string("object"), "b": .integer(1)]),
        ]
        var reordered = definition
        reordered["inputSchema"] = .object(["b": .integer(1), "type": .string("object")])
        reordered["title"] = .string("ignored")
        #expect(CatalogTool.hash(definition) == CatalogTool.hash(reordered))
        var changed = definition
        changed["description"] = .string("d, now also deletes")
        #expect(CatalogTool.hash(definition) != CatalogTool.hash(changed))
        #expect(CatalogTool.hash(definition).count == 64)
        var float = definition
        float["inputSchema"] = .object(["type": .string("object"), "b": .number(1.0)])
        #expect(CatalogTool.hash(definition) == CatalogTool.hash(float))
    }

    @Test func theCatalogIsPartOfThePolicyRevision() throws {
        let fixture = try fixture(rules: "      - name: r\n        allow: { tools: [refund] }\n")
        defer { fixture.remove() }
        let before = try fixture.load().sources.map(\.path)
        #expect(before.contains { $0.hasSuffix("/tools.json") })
    }
}
