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
            cannot change, to detect a log cut short later. A line cut short by a killed writer, \
            followed by the next run's audit_start that records the tear (torn_tail) and continues \
            the chain from the last complete line, is reported as torn and the check goes on. \
            Exits 0 when intact (torn lines included), 1 at the first other problem (printed as \
            FILE:LINE: problem).
            """
    )

    @Argument(help: "Audit log files, oldest first.")
    var files: [String]

    func run() throws {
        var previous: String?
        var total = 0
        var torn = 0
        for file in files {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                printError("\(file): cannot open")
                throw ExitCode(1)
            }
            defer { try? handle.close() }
            var lineNumber = 0
            // A line that is not a valid link, held until the next line says whether it was a
            // recorded tear.
            var suspect: (line: Int, problem: String)?
            func check(_ line: [UInt8]) throws {
                lineNumber += 1
                if let held = suspect {
                    suspect = nil
                    guard AuditLine.recordsTear(line, previous: previous) else {
                        printError("\(file):\(held.line): \(held.problem)")
                        throw ExitCode(1)
                    }
                    print("\(file):\(held.line): torn line: the writer was stopped mid-write; the next start recorded it (torn_tail)")
                    torn += 1
                }
                let (problem, hash) = AuditLine.problem(in: line, previous: previous)
                if let problem {
                    suspect = (lineNumber, problem)
                    return
                }
                previous = hash
            }
            let pending = try forEachLine(of: handle, check)
            if let held = suspect {
                printError("\(file):\(held.line): \(held.problem)")
                throw ExitCode(1)
            }
            if !pending.isEmpty {
                lineNumber += 1
                printError("\(file):\(lineNumber): incomplete last line (no newline): the log was cut short or is still being written")
                throw ExitCode(1)
            }
            total += lineNumber
            print("\(file): \(lineNumber) record\(lineNumber == 1 ? "" : "s"), chain intact")
        }
        let tears = torn == 0 ? "" : ", \(torn) torn line\(torn == 1 ? "" : "s") recorded"
        print("last hash: \(previous ?? "(no records)") (\(total) records\(tears))")
    }
}

/// Calls `body` with each newline-terminated line of a file, read a megabyte at a time;
/// returns what follows the last newline (empty when the file ends with one).
func forEachLine(of handle: FileHandle, _ body: ([UInt8]) throws -> Void) throws -> [UInt8] {
    var pending: [UInt8] = []
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        pending += chunk
        var start = 0
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            try body(Array(pending[start..<newline]))
            start = newline + 1
        }
        pending.removeFirst(start)
    }
    return pending
}
