import ArgumentParser
import Crypto
import Foundation
import MCPAuthzPolicy
import MCPAuthzServer

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with audit logs.",
        subcommands: [AuditVerifyCommand.self, AuditKeygenCommand.self]
    )
}

struct AuditKeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signed audit checkpoints.",
        discussion: """
            Writes the private key to FILE (PEM, PKCS#8, mode 600) for `serve --audit-signing-key`, \
            and the public key to FILE.pub (PEM) for `audit verify --public-key` and for anyone \
            who checks the log. Refuses to overwrite either.
            """
    )

    @Option(name: .customLong("out"), help: "Where to write the private key; the public key goes to FILE.pub.")
    var out: String

    func run() throws {
        let manager = FileManager.default
        for file in [out, out + ".pub"] where manager.fileExists(atPath: file) {
            printError("\(file) exists; not overwriting it")
            throw ExitCode(1)
        }
        let key = Curve25519.Signing.PrivateKey()
        let pem = AuditCheckpoint.pem(key)
        guard manager.createFile(atPath: out, contents: Data(pem.privateKey.utf8), attributes: [.posixPermissions: 0o600]),
            manager.createFile(atPath: out + ".pub", contents: Data(pem.publicKey.utf8), attributes: [.posixPermissions: 0o644])
        else {
            printError("cannot write \(out) or \(out).pub")
            throw ExitCode(1)
        }
        print("wrote \(out) (private key, mode 600) and \(out).pub (public key)")
        print("key id: \(AuditCheckpoint.keyID(publicKey: Array(key.publicKey.rawRepresentation)))")
    }
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

    @Option(
        name: .customLong("public-key"),
        help: """
            The Ed25519 public key (PEM or JWK) whose checkpoints the log must carry: every signature is checked, \
            records after the last checkpoint are reported as unproven, and a log that does not end with the \
            closing checkpoint after audit_stop fails (cut short) unless --allow-open.
            """
    )
    var publicKey: String?

    @Flag(name: .customLong("allow-open"), help: "With --public-key: a log still being written (no closing checkpoint) passes.")
    var allowOpen = false

    func run() throws {
        var previous: String?
        var total = 0
        var torn = 0
        var checkpoints: CheckpointCheck?
        if let publicKey {
            do throws(AuditCheckpoint.KeyError) {
                checkpoints = CheckpointCheck(key: try AuditCheckpoint.publicKey(file: publicKey))
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
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
                if let problem = checkpoints?.check(line, previous: previous, at: "\(file):\(lineNumber)") {
                    printError("\(file):\(lineNumber): \(problem)")
                    throw ExitCode(1)
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
        if let checkpoints {
            for note in checkpoints.notes { print(note) }
            guard checkpoints.verified > 0 else {
                printError("no checkpoint signed by key \(checkpoints.keyID): the log was not written with that key, or was rebuilt")
                throw ExitCode(1)
            }
            print(
                "checkpoints: \(checkpoints.verified) verified (key id \(checkpoints.keyID)); unproven: \(checkpoints.unproven) record\(checkpoints.unproven == 1 ? "" : "s") after the last checkpoint"
            )
            if !checkpoints.closed && !allowOpen {
                printError(
                    "\(checkpoints.lastLine ?? "the log"): the log does not end with the closing checkpoint after audit_stop: it was cut short, or its writer is still running or was killed (--allow-open for a log being written)"
                )
                throw ExitCode(1)
            }
        }
    }
}

/// What `audit verify --public-key` checks of checkpoint records, line by line.
struct CheckpointCheck {
    let key: Curve25519.Signing.PublicKey
    let keyID: String
    private(set) var verified = 0
    /// Records since the last checkpoint (or the start).
    private(set) var unproven = 0
    /// Whether the last line is a checkpoint that follows audit_stop.
    private(set) var closed = false
    private(set) var lastLine: String?
    private(set) var notes: [String] = []
    /// Whether `unproven` counts from where the writer's count began (a checkpoint, or a run's start).
    private var countKnown = false
    private var previousEvent: String?

    init(key: Curve25519.Signing.PublicKey) {
        self.key = key
        keyID = AuditCheckpoint.keyID(publicKey: Array(key.rawRepresentation))
    }

    /// Why a valid link is not what the key's writer wrote; nil when it is. `previous` is the
    /// hash of the line before.
    mutating func check(_ line: [UInt8], previous: String?, at place: String) -> String? {
        lastLine = place
        guard case let .object(fields)? = try? ClaimValue.parseJSON(line, maxDepth: 8) else { return "not a JSON object" }
        let event = fields["event"]?.stringValue
        defer { previousEvent = event }
        guard event == "checkpoint" else {
            if event == "audit_start" {
                // A run's writer counts from its audit_start. Records before it that no checkpoint
                // covered (a run killed, or a log cut) stay unproven, and are said.
                if unproven > 0 {
                    notes.append(
                        "\(place): a new run starts; the \(unproven) record\(unproven == 1 ? "" : "s") before it after the last checkpoint \(unproven == 1 ? "is" : "are") unproven (a writer killed, or the log cut)"
                    )
                }
                unproven = 0
                countKnown = true
            }
            unproven += 1
            closed = false
            return nil
        }
        guard case let .string(chain)? = fields["chain"], case let .integer(records)? = fields["records"],
            case let .string(keyID)? = fields["key_id"], case let .string(signature)? = fields["signature"],
            case let .string(time)? = fields["time"]
        else { return "checkpoint without chain, records, key_id, signature and time" }
        guard keyID == self.keyID else { return "checkpoint signed by another key (key_id \(keyID))" }
        guard let previous, chain == previous else { return "checkpoint names another chain than the record before it" }
        let message = AuditCheckpoint.message(chain: chain, records: Int(records), time: time, keyID: keyID)
        guard let bytes = AuditCheckpoint.base64URLDecodedSignature(signature), key.isValidSignature(bytes, for: Array(message.utf8)) else {
            return "checkpoint signature does not verify: the chain before it was rebuilt, or the record changed"
        }
        if countKnown, Int(records) != unproven {
            return "checkpoint counts \(records) records since the previous one; the log has \(unproven): records were removed or added"
        }
        countKnown = true
        verified += 1
        unproven = 0
        closed = previousEvent == "audit_stop"
        return nil
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
