import Foundation

/// Runs a helper program (the PyJWT minting scripts) without blocking a Swift concurrency
/// thread: tests run on a pool as small as the machine's core count, and a test blocked in
/// `waitUntilExit` starves the others, turning their timeouts into flakes.
enum ChildProcess {
    struct Failure: Error {
        var status: Int32
    }

    /// The program's standard output once it has exited 0.
    static func output(_ arguments: [String], input: Data? = nil) async throws -> Data {
        let folder = NSTemporaryDirectory() + "mcp-authz-child-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let inputPath = folder + "/stdin"
        let outputPath = folder + "/stdout"
        FileManager.default.createFile(atPath: inputPath, contents: input ?? Data())
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        guard status == 0 else { throw Failure(status: status) }
        return try Data(contentsOf: URL(fileURLWithPath: outputPath))
    }
}
