import Foundation
import Yams

/// Reads a policy file, or a folder of them, into a validated `PolicySet`.
///
/// A folder contributes every `*.yaml` and `*.yml` file directly inside it, in name order,
/// skipping hidden entries (a Kubernetes ConfigMap's `..data`) and policy test files
/// (`*_test.yaml`). Every problem in every file is reported together.
package struct PolicyLoader: Sendable {
    package var limits: PolicyLoadLimits

    package init(limits: PolicyLoadLimits = .default) {
        self.limits = limits
    }

    /// The loaded policy, with the warnings validation found.
    package struct Result: Sendable {
        package var policy: PolicySet
        package var warnings: [PolicyDiagnostic]
        /// The bytes each file had when it was read, in load order: what the policy revision
        /// is computed from, so it names exactly what was loaded.
        package var sources: [SourceFile]
    }

    /// One policy file as read.
    package struct SourceFile: Sendable {
        package var path: String
        package var bytes: Data
    }

    package func load(path: String) throws(PolicyLoadError) -> Result {
        let files = try Self.files(at: path, kind: .policy)
        var diagnostics: [PolicyDiagnostic] = []
        var policy = PolicySet(files: files)
        var sources: [SourceFile] = []
        for file in files {
            switch readYAML(file: file, sources: &sources) {
            case let .failure(error):
                diagnostics += error.diagnostics
            case let .success(root):
                guard let root else {
                    diagnostics.append(PolicyDiagnostic("policy file is empty", at: SourceLocation(file: file, line: 1, column: 1)))
                    continue
                }
                var reader = YAMLNodeReader(file: file, maxNodes: limits.maxNodes)
                let document = reader.policyDocument(root)
                policy.issuers += document.issuers
                policy.servers += document.servers
                diagnostics += reader.diagnostics
            }
        }
        for index in policy.servers.indices {
            guard let path = policy.servers[index].catalogPath else { continue }
            policy.servers[index].catalog = readCatalog(
                path, declaredIn: policy.servers[index].location.file, sources: &sources, diagnostics: &diagnostics
            )
        }
        for index in policy.issuers.indices {
            guard let file = policy.issuers[index].secretFile else { continue }
            policy.issuers[index].secretFile = checkSecret(file, of: policy.issuers[index], diagnostics: &diagnostics)
        }
        for index in policy.issuers.indices {
            guard let file = policy.issuers[index].introspection?.clientSecretFile else { continue }
            if let checked = checkClientSecret(file, of: policy.issuers[index], diagnostics: &diagnostics) {
                policy.issuers[index].introspection?.clientSecretFile = checked
            }
        }
        diagnostics += PolicyValidator.problems(in: policy)
        let errors = diagnostics.filter { $0.severity == .error }
        guard errors.isEmpty else { throw PolicyLoadError(Self.sorted(errors)) }
        return Result(policy: policy, warnings: Self.sorted(diagnostics), sources: sources)
    }

    package static func sorted(_ diagnostics: [PolicyDiagnostic]) -> [PolicyDiagnostic] {
        diagnostics.enumerated().sorted { a, b in
            let (l, r) = (a.element.location, b.element.location)
            if l.file != r.file { return l.file < r.file }
            if l.line != r.line { return l.line < r.line }
            if l.column != r.column { return l.column < r.column }
            return a.offset < b.offset
        }.map(\.element)
    }

    package enum FileKind: Sendable {
        case policy
        case test
    }

    /// The files of a kind at a path: the path itself if it is a file, else the folder's matches.
    package static func files(at path: String, kind: FileKind) throws(PolicyLoadError) -> [String] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PolicyLoadError([PolicyDiagnostic("no such file or folder", at: SourceLocation(file: path, line: 0, column: 0))])
        }
        guard isDirectory.boolValue else {
            return [path]
        }
        let names: [String]
        do {
            names = try manager.contentsOfDirectory(atPath: path)
        } catch {
            throw PolicyLoadError([PolicyDiagnostic("cannot list folder", at: SourceLocation(file: path, line: 0, column: 0))])
        }
        let base = path.hasSuffix("/") ? path : path + "/"
        return names.filter { name in
            guard !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { return false }
            let isTest = name.hasSuffix("_test.yaml") || name.hasSuffix("_test.yml")
            var isDir: ObjCBool = false
            guard manager.fileExists(atPath: base + name, isDirectory: &isDir), !isDir.boolValue else { return false }
            return (kind == .test) == isTest
        }.sorted().map { base + $0 }
    }

    /// A server's catalog: a JSON file, relative to the policy file that names it, bounded as
    /// policy files are, and part of the policy revision.
    func readCatalog(
        _ path: Located<String>, declaredIn policyFile: String, sources: inout [SourceFile], diagnostics: inout [PolicyDiagnostic]
    ) -> ToolCatalog? {
        let file = Self.catalogFile(path.value, declaredIn: policyFile)
        let problem: String
        do {
            let data = try BoundedFile.read(file, maxBytes: limits.maxFileBytes)
            sources.append(SourceFile(path: file, bytes: data))
            let json = try ClaimValue.parseJSON(data, maxDepth: limits.maxNestingDepth)
            return try ToolCatalog(json: json, file: file)
        } catch let error as BoundedFile.Failure {
            problem = error.description
        } catch let error as ClaimValue.JSONError {
            problem = "not JSON: \(error.description)"
        } catch let error as CatalogProblem {
            problem = error.message
        } catch {
            problem = "cannot be read"
        }
        diagnostics.append(PolicyDiagnostic("catalog \(file): \(problem)", at: path.location))
        return nil
    }

    /// An issuer's secret file, resolved against its policy file's folder: it must be readable,
    /// hold a secret at least as long as the hash of each algorithm the issuer allows, and
    /// should be readable by its owner only. The secret is not kept (the key cache reads the
    /// file) and is never part of a diagnostic or of the policy revision.
    func checkSecret(_ path: Located<String>, of issuer: IssuerConfig, diagnostics: inout [PolicyDiagnostic]) -> Located<String>? {
        let file = Self.catalogFile(path.value, declaredIn: issuer.location.file)
        let secret: [UInt8]
        do throws(BoundedFile.Failure) {
            secret = Self.secret(in: Array(try BoundedFile.read(file, maxBytes: IssuerConfig.maxSecretBytes)))
        } catch {
            diagnostics.append(PolicyDiagnostic("secret_file \(file): \(error.description)", at: path.location))
            return nil
        }
        let needed = issuer.algorithms.compactMap { algorithm in
            IssuerConfig.sharedSecretAlgorithms.first { $0.name == algorithm.value }
        }.max { $0.minimumBytes < $1.minimumBytes }
        if let needed, secret.count < needed.minimumBytes {
            diagnostics.append(
                PolicyDiagnostic(
                    "secret_file \(file) holds a \(secret.count)-byte secret; \(needed.name) needs at least \(needed.minimumBytes) bytes "
                        + "(\(needed.minimumBytes * 8) bits): make one with `openssl rand -hex \(needed.minimumBytes) > \(path.value)`",
                    at: path.location
                )
            )
            return nil
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            diagnostics.append(
                PolicyDiagnostic(
                    "secret_file \(file) may be read by others (mode \(String(mode, radix: 8))); chmod 600 it", at: path.location, severity: .warning
                )
            )
        }
        return Located(file, at: path.location)
    }

    /// An introspection client secret file, resolved against its policy file's folder: readable,
    /// not empty, and (warned) readable by its owner only. Read again on every introspection
    /// call, so a rotated secret is used at once; never part of a diagnostic or the revision.
    func checkClientSecret(_ path: Located<String>, of issuer: IssuerConfig, diagnostics: inout [PolicyDiagnostic]) -> Located<String>? {
        let file = Self.catalogFile(path.value, declaredIn: issuer.location.file)
        do throws(BoundedFile.Failure) {
            guard !Self.secret(in: Array(try BoundedFile.read(file, maxBytes: IssuerConfig.maxSecretBytes))).isEmpty else {
                diagnostics.append(PolicyDiagnostic("client_secret_file \(file) is empty", at: path.location))
                return nil
            }
        } catch {
            diagnostics.append(PolicyDiagnostic("client_secret_file \(file): \(error.description)", at: path.location))
            return nil
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            diagnostics.append(
                PolicyDiagnostic(
                    "client_secret_file \(file) may be read by others (mode \(String(mode, radix: 8))); chmod 600 it", at: path.location,
                    severity: .warning
                )
            )
        }
        return Located(file, at: path.location)
    }

    /// A secret file's key: its bytes, without one final line ending.
    package static func secret(in bytes: [UInt8]) -> [UInt8] {
        var key = bytes
        if key.last == UInt8(ascii: "\n") { key.removeLast() }
        if key.last == UInt8(ascii: "\r") { key.removeLast() }
        return key
    }

    /// A catalog path as written, resolved against the folder of the policy file naming it.
    package static func catalogFile(_ path: String, declaredIn policyFile: String) -> String {
        if path.hasPrefix("/") { return path }
        let folder = policyFile.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return folder.isEmpty ? path : folder + "/" + path
    }

    /// One file's YAML tree, after the checks that must happen before the parser sees it.
    func readYAML(file: String) -> Swift.Result<Node?, PolicyLoadError> {
        var sources: [SourceFile] = []
        return readYAML(file: file, sources: &sources)
    }

    /// As `readYAML(file:)`, keeping the bytes read in `sources`.
    func readYAML(file: String, sources: inout [SourceFile]) -> Swift.Result<Node?, PolicyLoadError> {
        let start = SourceLocation(file: file, line: 1, column: 1)
        func failure(_ message: String, _ location: SourceLocation? = nil) -> Swift.Result<Node?, PolicyLoadError> {
            .failure(PolicyLoadError([PolicyDiagnostic(message, at: location ?? start)]))
        }
        let data: Data
        do {
            data = try BoundedFile.read(file, maxBytes: limits.maxFileBytes)
        } catch {
            return failure(error.description)
        }
        sources.append(SourceFile(path: file, bytes: data))
        if let offset = data.firstIndex(of: 0) {
            return failure("file is binary (NUL byte at offset \(offset - data.startIndex)), not YAML")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return failure("file is not valid UTF-8 text")
        }
        if let finding = YAMLPrescan.check(text, maxDepth: limits.maxNestingDepth) {
            return failure(finding.message, SourceLocation(file: file, line: finding.line, column: finding.column))
        }
        do {
            let parser = try Parser(yaml: text)
            return .success(try parser.singleRoot())
        } catch let error as YamlError {
            return .failure(PolicyLoadError([Self.diagnostic(for: error, file: file)]))
        } catch {
            return failure("cannot parse YAML")
        }
    }

    /// libyaml's problem, at its position, without Yams' echo of the source text.
    static func diagnostic(for error: YamlError, file: String) -> PolicyDiagnostic {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            let suffix = context.map { " \($0.text)" } ?? ""
            return PolicyDiagnostic("invalid YAML: \(problem)\(suffix)", at: at(mark))
        case let .composer(_, problem, mark, _):
            return PolicyDiagnostic("invalid YAML: \(problem)", at: at(mark))
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return PolicyDiagnostic("key \(keys) appears more than once in this mapping", at: at(context.mark))
        case let .reader(problem, offset, value, _):
            let position = offset.map { " at byte offset \($0)" } ?? ""
            return PolicyDiagnostic(
                "invalid YAML text: \(problem) (character \(value)\(position))", at: SourceLocation(file: file, line: 1, column: 1))
        default:
            return PolicyDiagnostic("invalid YAML", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }
}
