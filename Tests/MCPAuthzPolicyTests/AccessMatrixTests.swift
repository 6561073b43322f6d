import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `mcp-authz matrix`: rows, the caller classes as columns, and what each cell says.
@Suite struct AccessMatrixTests {
    static let policy = """
        version: 1
        issuers:
          - id: idp
            issuer: https://idp.test/
        servers:
          - id: ops
            match: { path_prefix: /mcp }
            resource: https://mcp.test/mcp
            issuers: [idp]
            rules:
              - name: basics
                allow: { methods: [initialize, "notifications/*"] }
              - name: readers
                when: { scopes: [read] }
                allow: { tools: [status] }
              - name: on call
                when: { groups: [oncall, sre] }
                allow: { tools: ["restart_*"] }
              - name: production needs the flag
                when: { not: { claims: { env: [prod] } } }
                deny: { tools: [restart_production] }
              - name: small scaling
                when: { groups: [sre], arguments: { replicas: { max: 5 } } }
                allow: { tools: [scale] }
              - name: bob
                when: { emails: [bob@example.com] }
                allow: { tools: [status] }
        """

    func matrix(maxColumns: Int = AccessMatrix.defaultMaxColumns) throws -> AccessMatrix {
        try #require(AccessMatrix(try compile(Self.policy), server: "ops", maxColumns: maxColumns))
    }

    func cell(_ matrix: AccessMatrix, _ row: String, _ column: String) -> String? {
        guard let r = matrix.rows.first(where: { $0.label == row }), let c = matrix.columns.firstIndex(where: { $0.label == column }) else {
            return nil
        }
        return r.cells[c].text
    }

    @Test func rowsAreTheNamedOperationsAndPatterns() throws {
        let matrix = try matrix()
        #expect(
            matrix.rows.map(\.label) == [
                "initialize", "notifications/*", "tool restart_production", "tool scale", "tool status", "tool restart_* (pattern)",
            ]
        )
    }

    @Test func columnsAreTheClassesTheRulesTellApart() throws {
        let matrix = try matrix()
        // oncall and sre differ only on scale; the flag matters only with a group; bob alone.
        #expect(
            matrix.columns.map(\.label) == [
                "any caller", "group oncall", "group sre", "bob@example.com", "group oncall + env = \"prod\"", "group sre + env = \"prod\"",
            ]
        )
        #expect(cell(matrix, "tool status", "any caller") == "with scope read")
        #expect(cell(matrix, "tool status", "bob@example.com") == "allow")
        #expect(cell(matrix, "tool restart_production", "group sre") == "deny")
        #expect(cell(matrix, "tool restart_production", "group sre + env = \"prod\"") == "allow")
        #expect(cell(matrix, "tool restart_* (pattern)", "group oncall") == "allow")
        #expect(cell(matrix, "tool scale", "group sre") == "allow (some arguments)")
        #expect(cell(matrix, "tool scale", "group oncall") == "deny")
        #expect(cell(matrix, "initialize", "any caller") == "allow")
    }

    @Test func equivalentCallersShareAColumnAndABoundIsSaid() throws {
        let shared = try compile(
            Self.policy.replacingOccurrences(of: "emails: [bob@example.com]", with: "emails: [bob@example.com, carol@example.com]")
        )
        let merged = try #require(AccessMatrix(shared, server: "ops"))
        #expect(merged.columns.map(\.label).contains("bob@example.com or carol@example.com"))
        let bounded = try matrix(maxColumns: 2)
        #expect(bounded.columns.count == 2 && bounded.hiddenColumns == 4 && bounded.rows.allSatisfy { $0.cells.count == 2 })
        #expect(AccessMatrix(shared, server: "nope") == nil)
    }
}
