#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where audit lines go.
package enum AuditDestination: Sendable, Equatable, CustomStringConvertible {
    /// A file, created 0600 and appended to; reopened on SIGUSR1.
    case file(String)
    case standardOutput

    package var description: String {
        switch self {
        case let .file(path): path
        case .standardOutput: "stdout"
        }
    }
}

/// A write that did not complete, with the system's reason.
package struct AuditSinkError: Error, Sendable, CustomStringConvertible {
    package var message: String
    /// The system's error number when a system call failed; nil for a stall.
    package var errorNumber: Int32?

    init(message: String, errorNumber: Int32? = nil) {
        self.message = message
        self.errorNumber = errorNumber
    }

    package var description: String { message }
}

/// One open destination, written with plain `write(2)` by the audit writer's task only.
///
/// A write that stops part-way (a full disk) keeps the unwritten rest and sends it first next
/// time, so a retried line is never torn or doubled.
final class AuditSink {
    let destination: AuditDestination
    private var descriptor: Int32
    private var unwritten: [UInt8] = []

    init(_ destination: AuditDestination) throws(AuditSinkError) {
        self.destination = destination
        switch destination {
        case .standardOutput: descriptor = STDOUT_FILENO
        case let .file(path): descriptor = try Self.open(path)
        }
    }

    deinit {
        if case .file = destination, descriptor >= 0 { close(descriptor) }
    }

    private static func open(_ path: String) throws(AuditSinkError) -> Int32 {
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw AuditSinkError(message: "cannot open \(path): \(Self.reason())", errorNumber: errno) }
        return descriptor
    }

    /// Writes `bytes` after whatever an earlier failed write left over; on failure keeps the
    /// rest for the next call.
    func write(_ bytes: [UInt8]) throws(AuditSinkError) {
        unwritten += bytes
        var offset = 0
        defer { unwritten.removeFirst(offset) }
        while offset < unwritten.count {
            let written = unwritten.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw AuditSinkError(message: "cannot write to \(destination): \(Self.reason())", errorNumber: errno)
            }
            offset += written
        }
    }

    /// Closes and opens the path again (logrotate moved the file); stdout is left as it is.
    func reopen() throws(AuditSinkError) {
        guard case let .file(path) = destination else { return }
        let fresh = try Self.open(path)
        if descriptor >= 0 { close(descriptor) }
        descriptor = fresh
    }

    /// Has the system put what was written to the file on disk (`fdatasync`); stdout is left
    /// to whoever reads it. A file system that cannot sync (EINVAL) counts as synced.
    func sync() throws(AuditSinkError) {
        guard case .file = destination else { return }
        while true {
            #if os(Linux)
                let result = fdatasync(descriptor)
            #else
                let result = fsync(descriptor)
            #endif
            if result == 0 || errno == EINVAL { return }
            if errno != EINTR {
                throw AuditSinkError(message: "cannot sync \(destination) to disk: \(Self.reason())", errorNumber: errno)
            }
        }
    }

    /// What the end of an existing audit file says, to continue its chain.
    struct Tail {
        /// The hash of the last complete line; nil for a new or empty file.
        var hash: String?
        /// The file does not end with a newline: the next write must start with one.
        var unterminated = false
        /// The last line is cut short (a writer killed mid-write): not a whole record.
        var torn = false
        /// The `event` of the last complete line.
        var lastEvent: String?
    }

    static func tail(ofFile path: String) -> Tail {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return Tail() }
        defer { close(descriptor) }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end > 0 else { return Tail() }
        let length = Int(min(end, 64 * 1024))
        var bytes = [UInt8](repeating: 0, count: length)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, length, off_t(end) - off_t(length)) }
        guard read == length else { return Tail() }
        var tail = Tail()
        tail.unterminated = bytes.last != UInt8(ascii: "\n")
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { Array($0) }
        // Killed after a whole record but before its newline: the record stands.
        if tail.unterminated, let last = lines.last, AuditLine.problem(in: last, previous: nil).problem != nil {
            tail.torn = true
            lines.removeLast()
        }
        guard let last = lines.last else { return tail }
        tail.hash = AuditLine.declaredHash(of: last)
        tail.lastEvent = AuditLine.event(of: last)
        // A signed log ends with the checkpoint that follows audit_stop: the event is the one before.
        if tail.lastEvent == "checkpoint", lines.count > 1 { tail.lastEvent = AuditLine.event(of: lines[lines.count - 2]) }
        return tail
    }

    private static func reason() -> String {
        String(cString: strerror(errno))
    }
}
