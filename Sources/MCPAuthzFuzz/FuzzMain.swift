import Foundation
import MCPAuthzPolicy
import MCPAuthzTokens

// The libFuzzer entry points. This target exists only when the package is built with
// MCP_AUTHZ_FUZZ=1 and `--sanitize fuzzer` (see scripts/fuzz): libFuzzer supplies `main` and the
// fuzzing loop, calls LLVMFuzzerInitialize once (the target is chosen by MCP_AUTHZ_FUZZ_TARGET)
// and LLVMFuzzerTestOneInput per input.

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

nonisolated(unsafe) private var context: FuzzContext?
nonisolated(unsafe) private var target = FuzzTarget.body

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let context else { fatalError("fuzz context not set up") }
    context.run(target, UnsafeBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer calls this once before the first input (its own `main` runs the loop).
@_cdecl("LLVMFuzzerInitialize")
func initialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    guard let name = environment["MCP_AUTHZ_FUZZ_TARGET"], let chosen = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fail("set MCP_AUTHZ_FUZZ_TARGET to one of: \(names)")
    }
    guard let directory = environment["MCP_AUTHZ_FUZZ_DIR"] else {
        fail("set MCP_AUTHZ_FUZZ_DIR to the folder holding policy.yaml, jwks.json and now.txt")
    }
    do {
        context = try FuzzContext.make(directory: directory)
    } catch {
        fail("fuzz set-up failed: \(error)")
    }
    target = chosen
    return 0
}

/// The entry point SwiftPM links an executable with; when the fuzzer runtime's `main` is not
/// the one linked, this hands over to its driver.
@_cdecl("MCPAuthzFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return runDriver(&count, &vector, testOneInput)
}

private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

extension FuzzContext {
    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads `policy.yaml` and `jwks.json` from the work folder; `now` from `now.txt`.
    static func make(directory: String) throws -> FuzzContext {
        let folder = URL(fileURLWithPath: directory)
        let snapshot: PolicySnapshot
        do {
            snapshot = try PolicySnapshot.load(path: folder.appendingPathComponent("policy.yaml").path).snapshot
        } catch {
            throw SetupError(description: "policy.yaml: \(error)")
        }
        let jwks = try Data(contentsOf: folder.appendingPathComponent("jwks.json"))
        let now = try String(contentsOf: folder.appendingPathComponent("now.txt"), encoding: .utf8)
        guard let now = Double(now.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw SetupError(description: "now.txt is not a number") }
        let keys = try blocking { try await IssuerKeys.load(jwks: jwks, algorithms: ["RS256", "ES256", "EdDSA"]) }
        return FuzzContext(snapshot: snapshot, keys: keys, policyFile: folder.appendingPathComponent("input.yaml").path, now: now)
    }

    /// Runs an async set-up step to completion from the synchronous entry point.
    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<T, any Error>?
        Task {
            do { result = .success(try await work()) } catch { result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try result!.get()
    }
}
