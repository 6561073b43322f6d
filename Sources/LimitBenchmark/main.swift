// What limits cost one request, on one core: finding the limits that apply and their keys
// (`charges`), reading the clocks, and taking from the buckets (`admit`), for bench/run.py's
// contestant K policy (two limits applying to every request, never refusing). On demand:
//
//     swift build -c release --product limit-bench && .build/release/limit-bench
import Foundation
import MCPAuthzPolicy
import MCPAuthzServer

let yaml = """
    version: 1
    issuers:
      - id: idp
        issuer: https://idp.example.com/
    servers:
      - id: todos
        match: { path_prefix: /mcp }
        resource: https://mcp.example.com/mcp
        issuers: [idp]
        rules:
          - name: readers
            allow: { tools: [get_todo] }
        limits:
          - name: per caller
            key: [subject]
            rate: 1000000/s
            burst: 1000000
          - name: per caller and tool
            applies_to: { tools: [get_todo] }
            key: [subject, tool]
            rate: 1000000/s
            burst: 1000000
    """
let path = NSTemporaryDirectory() + "limit-bench-\(getpid()).yaml"
try yaml.write(toFile: path, atomically: true, encoding: .utf8)
defer { try? FileManager.default.removeItem(atPath: path) }
let snapshot = try PolicySnapshot.load(path: path).snapshot
guard let server = snapshot.servers["todos"] else { fatalError("the benchmark policy has no server todos") }
let identity = Identity(issuerID: "idp", subject: "reader", scopes: ["read"])
let operations = [MCPOperation(method: "tools/call", name: "get_todo")]
let limiter = RateLimiter(maxKeys: 100_000)
let rounds = 1_000_000
/// Nanoseconds per round of `body`, the median of three runs; returns a checksum so the work
/// cannot be optimized away.
@discardableResult
func measure(_ name: String, _ body: () -> Int) -> Int {
    var sink = 0
    var runs: [Double] = []
    for _ in 0..<3 {
        let start = ContinuousClock.now
        for _ in 0..<rounds { sink &+= body() }
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        runs.append((Double(seconds) + Double(attoseconds) / 1e18) / Double(rounds) * 1e9)
    }
    print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%7.1f ns", runs.sorted()[1]))
    return sink
}

let charges = server.charges(identity, operations, clientIP: nil)
let time = RateLimiter.now()
var sink = measure("charges (two limits, keys hashed)") { server.charges(identity, operations, clientIP: nil).count }
sink &+= measure("RateLimiter.now (monotonic and wall clock)") { Int(RateLimiter.now().day) }
sink &+= measure("admit (two buckets, one key each)") { limiter.admit(charges, at: time) == nil ? 1 : 0 }
sink &+= measure("all of it, as a request pays it") {
    limiter.admit(server.charges(identity, operations, clientIP: nil), at: RateLimiter.now()) == nil ? 1 : 0
}
print("(checksum \(sink))")
