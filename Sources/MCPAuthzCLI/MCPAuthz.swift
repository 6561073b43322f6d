import ArgumentParser

/// `mcp-authz`: the policy-driven authorization sidecar for MCP servers.
@main
struct MCPAuthz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-authz",
        abstract: "Policy-driven authorization for MCP servers.",
        discussion: """
            Policies are YAML files (one file, or a folder of *.yaml merged) that map token issuers, \
            scopes, emails, domains and groups to the MCP methods, tools, prompts and resources each \
            caller may use. Check them with 'validate', see a decision with 'explain', and run their \
            test cases (*_test.yaml) with 'test'.
            """,
        subcommands: [ValidateCommand.self, ExplainCommand.self, TestCommand.self]
    )
}
