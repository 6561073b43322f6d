import ArgumentParser

/// Which mcp-authz this is: the release and the commit it was built from.
enum MCPAuthzVersion {
    /// The release, as `CHANGELOG.md` names it.
    static let release = "0.2.0-dev"

    /// `mcp-authz 0.2.0-dev (commit 1a2b3c4d5e6f)`.
    static var text: String { "mcp-authz \(release) (commit \(buildCommit))" }
}

/// `mcp-authz version`, the same as `mcp-authz --version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the release and the commit this binary was built from."
    )

    func run() {
        print(MCPAuthzVersion.text)
    }
}
