import ArgumentParser

/// `mcp-authz`: the policy-driven authorization sidecar for MCP servers.
@main
struct MCPAuthz: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-authz",
        abstract: "Policy-driven authorization for MCP servers.",
        discussion: """
            Policies are YAML files (one file, or a folder of *.yaml merged) that map token issuers, \
            scopes, emails, domains and groups to the MCP methods, tools, prompts and resources each \
            caller may use. Run the sidecar with 'serve' (or try it with 'demo'), check policies with \
            'validate', see a decision with 'explain', and run their test cases (*_test.yaml) with 'test'.
            """,
        version: MCPAuthzVersion.text,
        subcommands: [
            ServeCommand.self, DemoCommand.self, ValidateCommand.self, ExplainCommand.self, TestCommand.self, AuditCommand.self,
            VersionCommand.self, CatalogCommand.self, ReplayCommand.self, DiffCommand.self, MatrixCommand.self,
        ]
    )
}
