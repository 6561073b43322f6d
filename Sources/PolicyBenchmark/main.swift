import Foundation
import MCPAuthzPolicy

// Decision cost of the policy engine alone, small policy against large, on one core.
//
//   swift run -c release policy-bench [--quick]
//
// Both policies have the same shape (scope, group and email rules, a deny with a glob, one
// email allowlist); the large one has 10,000 rules and an allowlist of 100,000 emails. They are
// written as YAML and loaded through the real loader, then the same mix of allowed and denied
// operations is decided over and over. Reported: load time, the median time per decision over
// repeated batches, and the ratio large/small. A third policy keeps a 200-tool catalog and
// decides on arguments (a rule per tool on two arguments, an annotations deny); it decides calls
// that carry arguments, the small policy the same calls, and the ratio catalog/small is reported.

let quick = CommandLine.arguments.contains("--quick")
let batches = quick ? 3 : 21
let decisionsPerBatch = quick ? 20_000 : 500_000

func policyYAML(rules: Int, emails: Int) -> String {
    var yaml = """
        version: 1
        issuers:
          - id: idp
            issuer: https://idp.example.com/
        servers:
          - id: big
            match: { path_prefix: /mcp }
            resource: https://mcp.example.com/mcp
            issuers: [idp]
            rules:
              - name: protocol basics
                allow: { methods: [initialize, ping, "notifications/*", tools/list] }
              - name: image allowlist
                when:
                  emails:

        """
    for e in 0..<emails { yaml += "          - user\(e)@example.com\n" }
    yaml += """
                allow: { tools: [generateImage] }
              - name: no deletes outside admins
                when: { not: { groups: [admins] } }
                deny: { tools: ["delete_*"] }

        """
    for r in 0..<rules {
        switch r % 3 {
        case 0:
            yaml += "      - name: rule \(r)\n        when: { scopes: [scope\(r % 100)] }\n        allow: { tools: [tool\(r)] }\n"
        case 1:
            yaml += "      - name: rule \(r)\n        when: { groups: [group\(r % 200)] }\n        allow: { tools: [tool\(r)] }\n"
        default:
            yaml += "      - name: rule \(r)\n        when: { emails: [user\(r)@example.com] }\n        allow: { tools: [tool\(r), \"shared_*\"] }\n"
        }
    }
    return yaml
}

/// The small policy's rules, a catalog of `tools` tools (`tool0`…, every third destructive) and,
/// per tool, an allow on its `project` and `amount` arguments; destructive tools are denied
/// outside admins by annotation.
func catalogPolicy(tools: Int) -> (yaml: String, catalog: String) {
    var yaml = policyYAML(rules: 10, emails: 10).replacingOccurrences(
        of: "    issuers: [idp]\n", with: "    issuers: [idp]\n    catalog: tools.json\n"
    )
    yaml += "      - name: destructive tools need admins\n        when: { not: { groups: [admins] } }\n"
    yaml += "        deny: { annotations: { destructiveHint: true } }\n"
    var entries: [String] = []
    for t in 0..<tools {
        yaml += "      - name: tool \(t) on our projects\n        when: { scopes: [scope\(t % 100)], arguments: "
        yaml += "{ project: \"acme-*\", amount: { max: 100 } } }\n        allow: { tools: [tool\(t)] }\n"
        entries.append(
            #"{"name": "tool\#(t)", "inputSchema": {"type": "object", "properties": {"project": {"type": "string"}, "amount": {"type": "number"}}}, "annotations": {"destructiveHint": \#(t % 3 == 0)}}"#
        )
    }
    return (yaml, #"{"tools": [\#(entries.joined(separator: ", "))]}"#)
}

func load(rules: Int, emails: Int) -> (PolicySnapshot, Double) {
    load(name: "\(rules)", files: ["policy.yaml": policyYAML(rules: rules, emails: emails)])
}

func load(name: String, files: [String: String]) -> (PolicySnapshot, Double) {
    let folder = NSTemporaryDirectory() + "policy-bench-\(name)"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (file, text) in files { try! text.write(toFile: folder + "/" + file, atomically: true, encoding: .utf8) }
    let file = folder + "/policy.yaml"
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let clock = ContinuousClock()
    let start = clock.now
    let limits = PolicyLoadLimits(maxFileBytes: 64 << 20, maxNestingDepth: 64, maxNodes: 10_000_000)
    do {
        let (snapshot, _) = try PolicySnapshot.load(path: file, limits: limits)
        return (snapshot, (clock.now - start) / .milliseconds(1))
    } catch {
        fatalError("benchmark policy did not load:\n\(error)")
    }
}

/// The same operations for both policies: rule numbers and emails stay within the small one.
func workload(rules: Int, emails: Int) -> [DecisionInput] {
    var inputs: [DecisionInput] = []
    for i in 0..<1024 {
        let user = i % 2 == 0 ? "user\(i % emails)@example.com" : "stranger\(i)@example.net"
        let identity = Identity(
            issuerID: "idp", subject: "sub-\(i)", email: user, scopes: ["scope\(i % 100)", "openid"],
            groups: i % 5 == 0 ? ["admins", "group\(i % 200)"] : ["group\(i % 200)"]
        )
        let operation: MCPOperation
        switch i % 6 {
        case 0: operation = MCPOperation(method: "tools/call", name: "generateImage")
        case 1: operation = MCPOperation(method: "tools/call", name: "tool\(i % min(rules, 10))")
        case 2: operation = MCPOperation(method: "tools/call", name: "delete_thing")
        case 3: operation = MCPOperation(method: "tools/list")
        case 4: operation = MCPOperation(method: "tools/call", name: "shared_report")
        default: operation = MCPOperation(method: "tools/call", name: "unknown_tool")
        }
        inputs.append(DecisionInput(serverID: "big", identity: identity, operation: operation))
    }
    return inputs
}

/// Calls of catalog tools with their arguments (allowed and denied by them), for the catalog
/// policy and, alike, the small one.
func argumentWorkload(tools: Int) -> [DecisionInput] {
    (0..<1024).map { i in
        let identity = Identity(
            issuerID: "idp", subject: "sub-\(i)", email: "user\(i % 10)@example.com", scopes: ["scope\(i % 100)", "openid"],
            groups: i % 5 == 0 ? ["admins"] : []
        )
        let arguments: [String: ClaimValue] = [
            "project": .string(i % 4 == 0 ? "evil-\(i)" : "acme-\(i)"), "amount": .integer(Int64(i % 7 == 0 ? 500 : i % 100)),
        ]
        let operation =
            i % 8 == 7
            ? MCPOperation(method: "tools/list", arguments: .known([:]))
            : MCPOperation(method: "tools/call", name: "tool\(i % tools)", arguments: .known(arguments))
        return DecisionInput(serverID: "big", identity: identity, operation: operation)
    }
}

struct Measurement {
    var medianNanoseconds: Double
    var allowed: Int
}

func measure(_ snapshot: PolicySnapshot, _ inputs: [DecisionInput]) -> Measurement {
    let clock = ContinuousClock()
    var perDecision: [Double] = []
    var allowed = 0
    inputs.withUnsafeBufferPointer { inputs in
        for _ in 0..<batches {
            let start = clock.now
            for i in 0..<decisionsPerBatch {
                if snapshot.decide(inputs[i & 1023]).isAllowed { allowed += 1 }
            }
            perDecision.append((clock.now - start) / .nanoseconds(1) / Double(decisionsPerBatch))
        }
    }
    perDecision.sort()
    return Measurement(medianNanoseconds: perDecision[perDecision.count / 2], allowed: allowed)
}

extension Duration {
    static func / (lhs: Duration, rhs: Duration) -> Double {
        let l = lhs.components, r = rhs.components
        return (Double(l.seconds) * 1e18 + Double(l.attoseconds)) / (Double(r.seconds) * 1e18 + Double(r.attoseconds))
    }
}

let small = (rules: 10, emails: 10)
let large = (rules: 10_000, emails: 100_000)
let (smallSnapshot, smallLoad) = load(rules: small.rules, emails: small.emails)
let (largeSnapshot, largeLoad) = load(rules: large.rules, emails: large.emails)
let smallInputs = workload(rules: small.rules, emails: small.emails)
let largeInputs = workload(rules: small.rules, emails: small.emails)

// Both policies must decide the workload identically, or the comparison means nothing.
for (a, b) in zip(smallInputs, largeInputs) {
    let x = smallSnapshot.decide(a), y = largeSnapshot.decide(b)
    precondition(x.effect == y.effect && x.reason == y.reason, "policies disagree on \(a.operation)")
}

let catalogTools = 200
let catalogFiles = catalogPolicy(tools: catalogTools)
let (catalogSnapshot, catalogLoad) = load(name: "catalog", files: ["policy.yaml": catalogFiles.yaml, "tools.json": catalogFiles.catalog])
let argumentInputs = argumentWorkload(tools: catalogTools)
let argumentAllowed = argumentInputs.filter { catalogSnapshot.decide($0).isAllowed }.count
let argumentRefused = argumentInputs.filter { catalogSnapshot.decide($0).reason == .noMatchingRule }.count
precondition(argumentAllowed > 0 && argumentRefused > 0, "the argument workload must both allow and refuse by arguments")

// `--profile-catalog`: only decide the argument workload with the catalog policy, for a profiler.
if CommandLine.arguments.contains("--profile-catalog") {
    let run = measure(catalogSnapshot, argumentInputs)
    print(String(format: "catalog policy: %.1f ns per decision", run.medianNanoseconds))
    exit(0)
}

// Interleave the runs so that machine noise touches all alike.
var smallRuns: [Measurement] = []
var largeRuns: [Measurement] = []
var smallArgumentRuns: [Measurement] = []
var catalogRuns: [Measurement] = []
for _ in 0..<3 {
    smallRuns.append(measure(smallSnapshot, smallInputs))
    largeRuns.append(measure(largeSnapshot, largeInputs))
    smallArgumentRuns.append(measure(smallSnapshot, argumentInputs))
    catalogRuns.append(measure(catalogSnapshot, argumentInputs))
}
let smallNs = smallRuns.map(\.medianNanoseconds).sorted()[1]
let largeNs = largeRuns.map(\.medianNanoseconds).sorted()[1]
let smallArgumentNs = smallArgumentRuns.map(\.medianNanoseconds).sorted()[1]
let catalogNs = catalogRuns.map(\.medianNanoseconds).sorted()[1]
let allowedShare = Double(smallRuns[0].allowed) / Double(batches * decisionsPerBatch)

func row(_ name: String, _ rules: Int, _ emails: Int, _ loadMs: Double, _ ns: Double) -> String {
    let cols = [
        name.padding(toLength: 8, withPad: " ", startingAt: 0),
        String(rules + 3).leftPad(8), String(emails).leftPad(8), String(format: "%.1f", loadMs).leftPad(10),
        String(format: "%.1f", ns).leftPad(12), String(format: "%.0f", 1e9 / ns).leftPad(14),
    ]
    return cols.joined(separator: " ")
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

print("policy engine, one core, \(batches) batches of \(decisionsPerBatch) decisions, median batch (\(quick ? "quick" : "full") mode)")
print(["policy  ", "   rules", "  emails", "   load ms", "ns/decision", "decisions/s"].joined(separator: " "))
print(row("small", small.rules, small.emails, smallLoad, smallNs))
print(row("large", large.rules, large.emails, largeLoad, largeNs))
print(row("catalog", catalogTools, 10, catalogLoad, catalogNs))
print(String(format: "large/small time per decision: %.2f (goal <= 1.5); allowed share of workload: %.0f%%", largeNs / smallNs, allowedShare * 100))
// Two readings of "as fast as the small policy": against the small policy's own mix, and against
// the small policy deciding the very same calls (most of which it decides without evaluating
// any rule: it has rules for 10 of the 200 tools).
print(
    String(
        format: "catalog (200 tools, argument rules) speed vs small's own mix: %.2fx (goal >= 0.8); vs small on the same calls: %.2fx (%.1f ns)",
        smallNs / catalogNs, smallArgumentNs / catalogNs, smallArgumentNs
    )
)
