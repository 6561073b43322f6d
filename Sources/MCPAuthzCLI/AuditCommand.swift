import ArgumentParser
import Foundation
import MCPAuthzServer

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with audit logs.",
        subcommands: [AuditVerifyCommand.self]
    )
}

struct AuditVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an audit log's hash chain and name the first broken line.",
        discussion: """
            Each record carries the SHA-256 of itself and of the record before it. A changed byte \
            breaks its own line's hash; a removed, added or reordered record breaks the next line's \
            'prev'. Give rotated files oldest first to check the chain across them. The first \
            record is taken as given: keep the last hash printed here somewhere the log's writer \
            cannot change, to detect a log cut short later. Exits 0 when intact, 1 at the first \
            problem (printed as FILE:LINE: problem).
            """
    )

    @Argument(help: "Audit log files, oldest first.")
    var files: [String]

    func run() throws {
        var previous: String?
        var total = 0
        for file in files {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                printError("\(file): cannot open")
                throw ExitCode(1)
            }
            defer { try? handle.close() }
            var lineNumber = 0
            var pending: [UInt8] = []
            func check(_ line: [UInt8]) throws {
                lineNumber += 1
                let (problem, hash) = AuditLine.problem(in: line, previous: previous)
                if let problem {
                    printError("\(file):\(lineNumber): \(problem)")
                    throw ExitCode(1)
                }
                previous = hash
            }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                pending += chunk
                var start = 0
                while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    try check(Array(pending[start..<newline]))
                    start = newline + 1
                }
                pending.removeFirst(start)
            }
            if !pending.isEmpty {
                lineNumber += 1
                printError("\(file):\(lineNumber): incomplete last line (no newline): the log was cut short or is still being written")
                throw ExitCode(1)
            }
            total += lineNumber
            print("\(file): \(lineNumber) record\(lineNumber == 1 ? "" : "s"), chain intact")
        }
        print("last hash: \(previous ?? "(no records)") (\(total) records)")
    }
}
