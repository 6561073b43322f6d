import ArgumentParser
import Foundation
import MCPAuthzPolicy

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the decision for one request and every rule considered.",
        discussion: """
            The caller is described by a JSON file of token claims (as a verified token would carry \
            them); its 'iss' picks the issuer unless --issuer names one. Example:
              mcp-authz explain policies --server todos --method tools/call --name get_billing --claims alice.json
            """
    )

    @Argument(help: "A policy file, or a folder of *.yaml policy files.")
    var path: String

    @Option(help: "The server id, as in the policy.")
    var server: String

    @Option(help: "The JSON-RPC method, for example tools/call.")
    var method: String

    @Option(help: "The tool or prompt name, or the resource URI.")
    var name: String?

    @Option(help: "The call's params.arguments as a JSON object; without it, argument conditions cannot be evaluated.")
    var arguments: String?

    @Option(help: "A JSON file with the token's claims ('-' reads standard input).")
    var claims: String

    @Option(help: "The issuer id to read the claims as; by default the one whose issuer equals the claims' iss.")
    var issuer: String?

    @Option(help: "The client's address, for limits keyed by client_ip.")
    var clientIP: String?

    @OptionGroup var options: PolicyOptions

    /// A method that acts on a named tool, prompt or resource is decided on that name, as in
    /// `/v1/decide`: without `--name` there is nothing to explain.
    func validate() throws {
        if let kind = MCPMethod.targetKind(of: method), name == nil {
            let what = kind == .resource ? "the resource URI" : "the \(kind.rawValue) name"
            throw ValidationError("--method \(method) needs --name (\(what)), as /v1/decide needs 'name'")
        }
    }

    func run() throws {
        let snapshot = try options.snapshot(at: path, failing: 1)
        let claimValues = try readClaims()
        let identity: Identity
        if let issuer {
            guard let config = snapshot.issuers[issuer] else {
                printError("no issuer '\(issuer)' in the policy; issuers: \(snapshot.issuers.keys.sorted().joined(separator: ", "))")
                throw ExitCode(1)
            }
            identity = Identity(claims: claimValues, issuer: config)
        } else {
            guard let found = snapshot.identity(fromClaims: claimValues) else {
                let hint = claimValues["iss"]?.stringValue.map(snapshot.issuerHint) ?? ""
                printError(
                    "\(claims): iss \(claimValues["iss"]?.description ?? "is missing and") matches no issuer of the policy\(hint); use --issuer"
                )
                throw ExitCode(1)
            }
            identity = found
        }
        var known = MCPArguments.unavailable
        if let arguments {
            guard arguments.utf8.count <= 1 << 20, case let .object(object)? = try? ClaimValue.parseJSON(Array(arguments.utf8)) else {
                printError("--arguments must be a JSON object (at most 1 MiB), such as '{\"amount\": 50}'")
                throw ExitCode(1)
            }
            known = .known(object)
        }
        let operation = MCPOperation(method: method, name: name, arguments: known)
        let input = DecisionInput(serverID: server, identity: identity, operation: operation)
        print(snapshot.explain(input).render())
        if let server = snapshot.servers[self.server], !server.limits.isEmpty {
            print(Self.limits(server, identity, operation, clientIP: clientIP))
        }
    }

    /// Which limits count this request (when the rules allow it), and under which key.
    static func limits(_ server: CompiledServer, _ identity: Identity, _ operation: MCPOperation, clientIP: String?) -> String {
        let charges = server.charges(identity, [operation], clientIP: clientIP)
        var lines = ["limits (they count a request the rules allow):"]
        for limit in server.limits {
            guard charges.contains(where: { $0.limit == limit.name }) else {
                lines.append("  - '\(limit.name)' (\(limit.summary)): does not apply")
                continue
            }
            let values = limit.keyValues(identity, operation, clientIP: clientIP)
            let key = zip(limit.key, values).map { "\($0)=\($1.isEmpty ? "(none)" : $1)" }.joined(separator: ", ")
            lines.append("  - '\(limit.name)' (\(limit.summary)): applies, key \(key)")
        }
        return lines.joined(separator: "\n")
    }

    private func readClaims() throws -> [String: ClaimValue] {
        let data: Data
        if claims == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: claims) else {
                printError("\(claims): cannot read file")
                throw ExitCode(1)
            }
            data = contents
        }
        guard data.count <= 1 << 20 else {
            printError("\(claims): larger than 1 MiB")
            throw ExitCode(1)
        }
        let value: ClaimValue
        do {
            value = try ClaimValue.parseJSON(data)
        } catch {
            printError("\(claims): invalid JSON: \(error)")
            throw ExitCode(1)
        }
        guard case let .object(object) = value else {
            printError("\(claims): must be a JSON object of claims")
            throw ExitCode(1)
        }
        return object
    }
}
