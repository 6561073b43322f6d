import ArgumentParser
import Foundation
import MCPAuthzPolicy

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show every decision two policy sets take differently, without traffic.",
        discussion: """
            For every server and every operation either policy (or the server's catalog) names, \
            the callers are divided into the classes the rules tell apart (the scopes, groups, \
            emails, domains, clients, subjects, issuers, claim values and argument values their \
            conditions name), and one caller of each class is decided by both. Each (server, \
            operation, class) whose decision changes is printed with a witness (token claims, and \
            the call's arguments, that show it) and the deciding rule before and after. A name \
            that only patterns cover is tried through examples ('delete_*' as 'delete_'). A bound \
            that cut the search short is said. Exits 0 when nothing changes, 1 when a decision \
            changes, 2 when a policy cannot be read.
            """
    )

    @Argument(help: "The policy file or folder in force.")
    var old: String

    @Argument(help: "The candidate policy file or folder.")
    var new: String

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Option(help: "Print at most this many changes (all are counted; --json prints all).")
    var limit = 100

    @Option(help: "Try at most this many caller classes per operation.")
    var maxCallers = PolicyDiff.defaultMaxCallers

    @OptionGroup var options: PolicyOptions

    func validate() throws {
        guard limit >= 0, maxCallers > 0 else { throw ValidationError("--limit must be at least 0 and --max-callers positive") }
    }

    func run() throws {
        let before = try options.snapshot(at: old, failing: 2), after = try options.snapshot(at: new, failing: 2)
        let diff = PolicyDiff(old: before, new: after, maxCallers: maxCallers)
        print(json ? Self.json(diff, old: before, new: after) : Self.text(diff, old: before, new: after, paths: (old, new), limit: limit))
        if !diff.changes.isEmpty { throw ExitCode(1) }
    }

    static func decision(_ decision: Decision) -> String {
        "\(decision.isAllowed ? "allow" : "deny") (\(decision.reason.rawValue)\(decision.rule.map { ", rule '\($0)'" } ?? ""))"
    }

    static func witness(_ change: PolicyDiff.Change, old: PolicySnapshot, new: PolicySnapshot) -> [String: ClaimValue] {
        let issuer = new.issuersByURL[change.witness.issuer] ?? old.issuersByURL[change.witness.issuer]
        return change.witness.tokenClaims(readBy: issuer)
    }

    static func operation(_ change: PolicyDiff.Change) -> String {
        change.operation.description + (change.standsFor.map { " (standing for names matching \($0))" } ?? "")
    }

    static func text(_ diff: PolicyDiff, old: PolicySnapshot, new: PolicySnapshot, paths: (String, String), limit: Int) -> String {
        let operations = Set(diff.changes.map { "\($0.server) \($0.operation)" }).count
        var lines = [
            "\(paths.0) → \(paths.1): \(diff.changes.count) change\(diff.changes.count == 1 ? "" : "s") in \(operations) operation\(operations == 1 ? "" : "s")"
                + " (\(diff.operationsCompared) operations and \(diff.classesCompared) caller classes compared)"
        ]
        var previous = ""
        for change in diff.changes.prefix(limit) {
            let heading = "\(change.server)  \(operation(change))"
            if heading != previous {
                lines.append("")
                lines.append(heading)
                previous = heading
            }
            lines.append("  \(change.before.isAllowed ? "allow → deny" : "deny → allow")  for \(change.caller)")
            lines.append("      before: \(decision(change.before)); after: \(decision(change.after))")
            var shown = "      witness: claims \(ClaimValue.object(witness(change, old: old, new: new)).jsonText)"
            if change.argumentsMatter {
                shown += change.witness.arguments.map { ", arguments \(ClaimValue.object($0).jsonText)" } ?? ", arguments not seen"
            }
            lines.append(shown)
        }
        if diff.changes.count > limit { lines.append("… \(diff.changes.count - limit) more (--limit, or --json for all)") }
        for sentence in diff.cutShort { lines.append("search cut short: \(sentence)") }
        for note in diff.notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n")
    }

    static func json(_ diff: PolicyDiff, old: PolicySnapshot, new: PolicySnapshot) -> String {
        func side(_ decision: Decision) -> ClaimValue {
            .object([
                "decision": .string(decision.isAllowed ? "allow" : "deny"), "status": .integer(Int64(decision.status)),
                "reason": .string(decision.reason.rawValue), "rule": decision.rule.map(ClaimValue.string) ?? .null,
            ])
        }
        let changes: [ClaimValue] = diff.changes.map { change in
            var operation: [String: ClaimValue] = ["method": .string(change.operation.method)]
            if let target = change.operation.target {
                operation["kind"] = .string(target.kind.rawValue)
                operation["name"] = .string(target.name)
            }
            if let standsFor = change.standsFor { operation["stands_for"] = .string(standsFor) }
            var entry: [String: ClaimValue] = [
                "server": .string(change.server), "operation": .object(operation), "caller": .string(change.caller),
                "before": side(change.before), "after": side(change.after), "witness_claims": .object(witness(change, old: old, new: new)),
            ]
            if change.argumentsMatter { entry["witness_arguments"] = change.witness.arguments.map(ClaimValue.object) ?? .null }
            return .object(entry)
        }
        let report: [String: ClaimValue] = [
            "changes": .array(changes), "cut_short": .array(diff.cutShort.map(ClaimValue.string)),
            "notes": .array(diff.notes.map(ClaimValue.string)), "operations_compared": .integer(Int64(diff.operationsCompared)),
            "classes_compared": .integer(Int64(diff.classesCompared)),
        ]
        return ClaimValue.object(report).jsonText
    }
}
