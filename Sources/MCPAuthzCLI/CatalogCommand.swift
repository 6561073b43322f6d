import ArgumentParser
import Foundation
import MCPAuthzPolicy
import MCPAuthzServer
import NIOCore

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Work with the tool catalogs policies keep beside them.",
        subcommands: [CatalogFetchCommand.self]
    )
}

struct CatalogFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Write a running MCP server's tools/list result, for a server's 'catalog:'.",
        discussion: """
            Connects to the MCP server's Streamable HTTP URL as a client would (initialize, then \
            tools/list page by page) and writes {"tools": [...]} as JSON with sorted keys, so a \
            change of the server's tools shows as a diff. Review it before committing it: \
            annotations and pinned definitions are as trustworthy as this file. The token is \
            read from --token-file or MCP_AUTHZ_CATALOG_TOKEN, never from the command line.
              mcp-authz catalog fetch https://mcp.example.com/crm/mcp --token-file token.txt --output policies/crm-tools.json
            """
    )

    @Argument(help: "The MCP server's Streamable HTTP URL.")
    var url: String

    @Option(help: "A file holding a bearer token to send (else the environment's MCP_AUTHZ_CATALOG_TOKEN, if set).")
    var tokenFile: String?

    @Option(name: .customLong("header"), help: "A further header to send, as 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "Where to write the catalog; standard output when absent.")
    var output: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Int = 10

    func validate() throws {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw ValidationError("the URL must be http:// or https:// with a host, such as https://mcp.example.com/mcp")
        }
        for header in headers where !header.contains(":") {
            throw ValidationError("--header '\(header)' must be 'Name: value'")
        }
        guard (1...600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 600 seconds") }
    }

    func run() async throws {
        // `validate` made sure each has a colon.
        var sent: [(name: String, value: String)] = headers.map { header in
            let colon = header.firstIndex(of: ":") ?? header.endIndex
            let value = colon == header.endIndex ? "" : header[header.index(after: colon)...]
            return (header[..<colon].trimmingCharacters(in: .whitespaces), value.trimmingCharacters(in: .whitespaces))
        }
        var token = ProcessInfo.processInfo.environment["MCP_AUTHZ_CATALOG_TOKEN"]
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile), data.count <= 64 << 10 else {
                printError("\(tokenFile): cannot read the token (at most 64 KiB)")
                throw ExitCode(1)
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let token, !token.isEmpty { sent.append(("Authorization", "Bearer " + token)) }
        let catalog: ClaimValue
        do {
            catalog = try await CatalogFetcher(url: url, headers: sent, timeout: .seconds(Int64(timeout))).fetch()
        } catch {
            printError("cannot fetch the catalog: \(error.description)")
            throw ExitCode(1)
        }
        // What the policy loader will say of it, before anyone commits it.
        do {
            _ = try ToolCatalog(json: catalog, file: output ?? "-")
        } catch {
            printError("the server's tools are not a usable catalog: \(error.message)")
            throw ExitCode(1)
        }
        let text = catalog.prettyJSONText() + "\n"
        guard let output else {
            print(text, terminator: "")
            return
        }
        do {
            try text.write(toFile: output, atomically: true, encoding: .utf8)
        } catch {
            printError("\(output): cannot write: \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let count = if case let .object(root) = catalog, case let .array(tools)? = root["tools"] { tools.count } else { 0 }
        printError("\(output): \(count) tools")
    }
}
