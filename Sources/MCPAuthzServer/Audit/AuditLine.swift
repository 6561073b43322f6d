import Crypto
import MCPAuthzPolicy

/// The audit log's line format: one JSON object per line, chained.
///
/// Every line ends `"prev":"<hex>","hash":"<hex>"}` where `prev` is the previous line's `hash`
/// (64 zeros for the first line of a chain) and `hash` is the SHA-256 of the line's bytes up to,
/// not including, `,"hash"`. A changed byte anywhere in a line breaks that line's hash; a
/// removed or reordered line breaks the next line's `prev`.
package enum AuditLine {
    package static let genesis = String(repeating: "0", count: 64)
    /// Longest string value written; longer values are cut at a character boundary.
    package static let maxValueBytes = 1024
    /// Most scopes and batch operations listed in one record.
    package static let maxListCount = 100

    /// Appends the line for `entry` and its newline to `buffer`; returns the line's hash.
    package static func append(_ entry: AuditEntry, previous: String, to buffer: inout [UInt8]) -> String {
        var json = JSONWriter(appendingTo: &buffer)
        json.field("time", RFC3339.milliseconds(entry.time))
        switch entry.kind {
        case let .decision(record): write(record, into: &json)
        case let .event(record):
            json.field("event", record.name)
            for (name, value) in record.fields {
                switch value {
                case let .string(text): json.field(name, text.map(bounded))
                case let .int(number): json.field(name, number)
                case let .bool(flag): json.field(name, flag)
                }
            }
        }
        json.field("prev", previous)
        // Only `start` goes into the closure: capturing `json` would copy it, and then the
        // next append would copy the whole buffer (every line of the batch) again.
        let start = json.start
        let hash = json.bytes.withUnsafeBufferPointer { bytes in
            hex(SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...]))))
        }
        json.field("hash", hash)
        buffer = json.finish()
        buffer.append(UInt8(ascii: "\n"))
        return hash
    }

    private static func write(_ record: DecisionRecord, into json: inout JSONWriter) {
        json.field("event", "decision")
        json.field("decision_id", record.decisionID)
        json.field("request_id", record.requestID.map(bounded))
        json.field("endpoint", record.endpoint)
        json.field("server", record.serverID)
        json.field("http_method", record.httpMethod.map(bounded))
        json.field("http_path", record.httpPath.map(bounded))
        let first = record.operations.first
        json.field("mcp_method", first.map { bounded($0.method) })
        json.field("mcp_name", first?.target.map { bounded($0.name) })
        if record.operations.count > 1 {
            json.field("batch_size", record.operations.count)
            json.field("batch", record.operations.prefix(maxListCount).map { bounded($0.description) })
        }
        json.field("issuer", record.issuer.map(bounded))
        // A caller no token vouched for says so in every record decided for it.
        if record.subjectFromProperties { json.field("subject_from", "authzen_subject_properties") }
        json.field("subject", record.subject.map(bounded))
        json.field("email", record.email.map(bounded))
        if let verified = record.emailVerified { json.field("email_verified", verified) }
        json.field("client_id", record.clientID.map(bounded))
        json.field("scopes", record.scopes.prefix(maxListCount).map(bounded))
        if !record.groups.isEmpty { json.field("groups", record.groups.prefix(maxListCount).map(bounded)) }
        if !record.claims.isEmpty {
            // Each value's JSON text, cut as every other value is; null for a claim the token
            // does not have (a JSON null claim is the text "null").
            json.object("claims") { object in
                for (path, value) in record.claims.prefix(maxListCount) { object.field(bounded(path), value.map { bounded($0.jsonText) }) }
            }
        }
        json.field("decision", record.allowed ? "allow" : "deny")
        json.field("status", record.status)
        json.field("reason", record.reason)
        json.field("rule", record.rule.map(bounded))
        if let limit = record.limit { json.field("limit", bounded(limit)) }
        if let would = record.wouldDecide { json.field(would.field, bounded(would.rule)) }
        if let shadow = record.shadow { json.object("shadow") { shadow.write(into: &$0) } }
        if let hashes = record.definitionHashes {
            json.object("definition") { object in
                object.field("pinned_sha256", hashes.pinned)
                object.field("live_sha256", hashes.live)
            }
        }
        if !record.arguments.isEmpty {
            json.field("arguments", record.arguments.prefix(maxListCount).map { bounded($0.path) })
            let values = record.arguments.prefix(maxListCount).compactMap { argument in argument.value.map { (argument.path, $0) } }
            if !values.isEmpty {
                // Each value's JSON text, cut as every other value is.
                json.object("argument_values") { object in
                    for (path, value) in values { object.field(bounded(path), bounded(value.jsonText)) }
                }
            }
        }
        json.field("policy_revision", record.policyRevision)
        json.field("latency_us", record.latencyMicroseconds)
        json.field("token_fingerprint", record.tokenFingerprint)
    }

    /// `text` cut to `maxValueBytes` of UTF-8 at a character boundary.
    static func bounded(_ text: String) -> String {
        guard text.utf8.count > maxValueBytes else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: maxValueBytes)
        while end > text.utf8.startIndex, !text.unicodeScalars.indices.contains(end) { end = text.utf8.index(before: end) }
        return String(text[..<end])
    }

    package static func hex(_ digest: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(JSONWriter.hexDigit(byte >> 4))
            out.append(JSONWriter.hexDigit(byte & 0x0F))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The hash a line declares, if it ends as a chained line does.
    package static func declaredHash(of line: some Collection<UInt8>) -> String? {
        let suffixLength = 75  // ,"hash":"<64 hex>"}
        guard line.count > suffixLength else { return nil }
        let tail = Array(line.suffix(suffixLength))
        guard tail.starts(with: Array(#","hash":""#.utf8)), tail.suffix(2).elementsEqual(Array(#""}"#.utf8)) else { return nil }
        let digits = tail[9..<73]
        guard digits.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    /// The `event` of an event line; nil for a decision or a line that is not a JSON object.
    package static func event(of line: [UInt8]) -> String? {
        guard case let .object(fields)? = try? ClaimValue.parseJSON(line, maxDepth: 8), case let .string(event)? = fields["event"] else {
            return nil
        }
        return event
    }

    /// Whether `line` is the `audit_start` of a run that found the line before it torn (a writer
    /// killed mid-write) and ended it, continuing the chain from `previous`, the last complete
    /// line's hash. `audit verify` then reports the line before as torn, not as changed.
    package static func recordsTear(_ line: [UInt8], previous: String?) -> Bool {
        guard problem(in: line, previous: previous).problem == nil,
            case let .object(fields)? = try? ClaimValue.parseJSON(line, maxDepth: 8),
            fields["event"] == .string("audit_start"), fields["torn_tail"] == .bool(true)
        else { return false }
        return true
    }

    /// Why a line is not a valid link after `previous` (nil when it is). `previous` nil: the
    /// first line checked, whose `prev` is taken as given.
    package static func problem(in line: [UInt8], previous: String?) -> (problem: String?, hash: String?) {
        guard let declared = declaredHash(of: line) else { return ("not a chained audit record (no trailing hash)", nil) }
        let body = line.prefix(line.count - 75)
        guard hex(SHA256.hash(data: Array(body))) == declared else { return ("hash does not match the record: it was changed", declared) }
        guard case let .object(fields)? = try? ClaimValue.parseJSON(line, maxDepth: 8) else {
            return ("not a well-formed JSON object", declared)
        }
        guard case let .string(prev)? = fields["prev"], body.suffix(74).elementsEqual(Array(#","prev":"\#(prev)""#.utf8)) else {
            return ("no prev field before the hash", declared)
        }
        if let previous, prev != previous {
            return ("prev does not match the previous record's hash: a record before it was removed, added or changed", declared)
        }
        return (nil, declared)
    }
}

/// RFC 3339 timestamps in UTC with milliseconds, without Foundation's formatters.
package enum RFC3339 {
    package static func milliseconds(_ seconds: Double) -> String {
        let totalMilliseconds = Int64((seconds * 1000).rounded(.down))
        let milliseconds = Int(((totalMilliseconds % 1000) + 1000) % 1000)
        let total = (totalMilliseconds - Int64(milliseconds)) / 1000
        var days = total / 86_400
        var secondOfDay = total % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func append(_ value: Int64, digits: Int, then separator: UInt8) {
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
            text.append(separator)
        }
        append(year, digits: 4, then: UInt8(ascii: "-"))
        append(month, digits: 2, then: UInt8(ascii: "-"))
        append(day, digits: 2, then: UInt8(ascii: "T"))
        append(secondOfDay / 3600, digits: 2, then: UInt8(ascii: ":"))
        append(secondOfDay % 3600 / 60, digits: 2, then: UInt8(ascii: ":"))
        append(secondOfDay % 60, digits: 2, then: UInt8(ascii: "."))
        append(Int64(milliseconds), digits: 3, then: UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }
}
