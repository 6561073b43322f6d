import ArgumentParser
import Foundation
import MCPAuthzPolicy
import MCPAuthzServer

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-decide recorded decisions with a candidate policy and show what flips.",
        discussion: """
            Reads audit logs written by 'serve' and decides every recorded decision again with the \
            policies given, from the caller (issuer, subject, email, client, scopes, groups, the \
            claims the rules named) and the operations the record holds. Prints the counts, then \
            each group of flips (allow to deny, deny to allow) by server, operation and deciding \
            rule, with sample decision ids. A record that lacks what the candidate decides on (a \
            claim the old policy never named, argument values not audited, a batch cut short) is \
            counted undecidable, never guessed. Records refused before any policy decided (a bad \
            token, an unreadable request) are counted and passed over. Token reading is not \
            replayed: scopes and groups are taken as recorded, whatever the candidate's issuer \
            claim names say. Exits 0 when nothing flips, 1 when a decision flips (--fail-on \
            narrows which), 2 when a file or the policy cannot be read.
            """
    )

    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case any
        case denyToAllow = "deny-to-allow"
        case allowToDeny = "allow-to-deny"
        case never
    }

    @Option(help: "The candidate policy file or folder.")
    var policies: String

    @Argument(help: "Audit log files (any order).")
    var files: [String]

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Option(help: "Which flips make the exit status 1: any, deny-to-allow, allow-to-deny or never.")
    var failOn: FailOn = .any

    @OptionGroup var options: PolicyOptions

    func run() throws {
        let loaded: PolicyLoader.Result
        do {
            loaded = try PolicyLoader(limits: options.limits).load(path: policies)
        } catch {
            report(error.diagnostics)
            throw ExitCode(2)
        }
        let revision = PolicyRuntime.revision(of: loaded.sources)
        var replay = AuditReplay(snapshot: PolicySnapshot(loaded.policy))
        for file in files {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                printError("\(file): cannot open")
                throw ExitCode(2)
            }
            defer { try? handle.close() }
            var lineNumber = 0
            let rest = try forEachLine(of: handle) { line in
                lineNumber += 1
                replay.replay(line: line, file: file, lineNumber: lineNumber)
            }
            // A last line without its newline is a record being written or torn: read if whole.
            if !rest.isEmpty { replay.replay(line: rest, file: file, lineNumber: lineNumber + 1) }
        }
        let result = replay.report
        print(json ? Self.json(result, revision: revision, files: files) : Self.text(result, revision: revision, policies: policies))
        let failing: Bool
        switch failOn {
        case .any: failing = !result.flips.isEmpty
        case .denyToAllow: failing = result.count(.denyToAllow) > 0
        case .allowToDeny: failing = result.count(.allowToDeny) > 0
        case .never: failing = false
        }
        if failing { throw ExitCode(1) }
    }

    static func text(_ report: ReplayReport, revision: String, policies: String) -> String {
        var lines = [
            "replayed \(report.records) decision record\(report.records == 1 ? "" : "s") against \(policies) (revision \(revision))",
            "  same \(report.same) · allow→deny \(report.count(.allowToDeny)) · deny→allow \(report.count(.denyToAllow))"
                + " · undecidable \(report.undecidableCount) · not decided by a policy \(report.skippedCount)",
        ]
        if report.unreadable > 0 {
            lines.append("  \(report.unreadable) unreadable line\(report.unreadable == 1 ? "" : "s"), the first at \(report.firstUnreadable ?? "?")")
        }
        for direction in [ReplayReport.Direction.denyToAllow, .allowToDeny] {
            let flips = report.sortedFlips.filter { $0.flip.direction == direction }
            guard !flips.isEmpty else { continue }
            lines.append("")
            lines.append(direction == .denyToAllow ? "deny → allow" : "allow → deny")
            for (flip, group) in flips {
                let before = flip.ruleBefore.map { "rule '\($0)'" } ?? "no rule"
                let after = flip.ruleAfter.map { "rule '\($0)'" } ?? "no rule"
                lines.append("  \(group.count)× \(flip.server)  \(flip.operation)")
                lines.append("      before: \(before); after: \(after) (\(flip.reasonAfter)); e.g. \(group.samples.joined(separator: ", "))")
            }
        }
        if !report.undecidable.isEmpty {
            lines.append("")
            lines.append("undecidable")
            for (why, group) in report.undecidable.sorted(by: { $0.value.count > $1.value.count }) {
                lines.append("  \(group.count)× \(why); e.g. \(group.samples.joined(separator: ", "))")
            }
        }
        if !report.skipped.isEmpty {
            lines.append("")
            lines.append("not decided by a policy")
            for (why, count) in report.skipped.sorted(by: { $0.value > $1.value }) { lines.append("  \(count)× \(why)") }
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ report: ReplayReport, revision: String, files: [String]) -> String {
        func group(_ group: ReplayReport.Group) -> [String: Any] { ["count": group.count, "decision_ids": group.samples] }
        let flips: [[String: Any]] = report.sortedFlips.map { flip, found in
            var entry = group(found)
            entry["direction"] = flip.direction.rawValue
            entry["server"] = flip.server
            entry["operation"] = flip.operation
            entry["rule_before"] = flip.ruleBefore ?? NSNull()
            entry["rule_after"] = flip.ruleAfter ?? NSNull()
            entry["reason_after"] = flip.reasonAfter
            return entry
        }
        let object: [String: Any] = [
            "policy_revision": revision, "files": files, "records": report.records, "same": report.same,
            "allow_to_deny": report.count(.allowToDeny), "deny_to_allow": report.count(.denyToAllow),
            "undecidable": report.undecidableCount, "not_decided_by_policy": report.skippedCount, "unreadable_lines": report.unreadable,
            "flips": flips,
            "undecidable_reasons": report.undecidable.sorted { $0.key < $1.key }.map { why, found in group(found).merging(["why": why]) { a, _ in a }
            },
            "not_decided_reasons": Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.key, $0.value) }),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
