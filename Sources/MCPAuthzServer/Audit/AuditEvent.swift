/// Something the audit log records besides a decision: its own life, policy loads, key
/// refreshes, requests refused before any decision. Typed, so each event's fields are fixed
/// in one place (`AuditLine` writes them, in this order).
package enum AuditEvent: Sendable {
    /// The log opened. `tornTail`: the file ended with a line cut short, now ended with a
    /// newline; `uncleanShutdown`: its last complete record was not `audit_stop` (the previous
    /// run was killed or crashed).
    case auditStart(pid: Int, destinations: String, tornTail: Bool, uncleanShutdown: Bool)
    /// The files were reopened (SIGUSR1, after logrotate).
    case auditReopen
    /// Records that could not be kept while the log could not write.
    case auditGap(dropped: Int)
    /// The log closed at shutdown, after every record before it.
    case auditStop
    case policyLoad(PolicyLoadRecord)
    case jwksRefresh(issuer: String, outcome: JWKSRefreshResult)
    /// A request refused before a decision (an oversized header block).
    case requestRefused(reason: String, status: Int)
    /// A signed checkpoint of the chain (`--audit-signing-key`).
    case checkpoint(records: Int, chain: String, keyID: String, signature: String)

    /// How a key refresh ended.
    package enum JWKSRefreshResult: Sendable {
        case success(keys: Int)
        case failure(error: String, servingLastGood: Bool)
    }

    /// The `event` field.
    var name: String {
        switch self {
        case .auditStart: "audit_start"
        case .auditReopen: "audit_reopen"
        case .auditGap: "audit_gap"
        case .auditStop: "audit_stop"
        case .policyLoad: "policy_load"
        case .jwksRefresh: "jwks_refresh"
        case .requestRefused: "request_refused"
        case .checkpoint: "checkpoint"
        }
    }

    /// A field's value in the line.
    enum Value {
        case string(String?)
        case int(Int)
        case bool(Bool)
    }

    /// The fields after `event`, in the order they are written.
    var fields: [(String, Value)] {
        switch self {
        case let .auditStart(pid, destinations, tornTail, uncleanShutdown):
            var fields: [(String, Value)] = [("pid", .int(pid)), ("destinations", .string(destinations))]
            if tornTail { fields.append(("torn_tail", .bool(true))) }
            if uncleanShutdown { fields.append(("unclean_shutdown", .bool(true))) }
            return fields
        case .auditReopen, .auditStop:
            return []
        case let .auditGap(dropped):
            return [("dropped", .int(dropped))]
        case let .policyLoad(record):
            return record.fields
        case let .jwksRefresh(issuer, .success(keys)):
            return [("issuer", .string(issuer)), ("result", .string("success")), ("keys", .int(keys))]
        case let .jwksRefresh(issuer, .failure(error, servingLastGood)):
            return [
                ("issuer", .string(issuer)), ("result", .string("failure")), ("error", .string(error)),
                ("serving_last_good", .string(servingLastGood ? "true" : "false")),
            ]
        case let .requestRefused(reason, status):
            return [("reason", .string(reason)), ("status", .int(status))]
        case let .checkpoint(records, chain, keyID, signature):
            return [("records", .int(records)), ("chain", .string(chain)), ("key_id", .string(keyID)), ("signature", .string(signature))]
        }
    }
}

/// A policy load, as the audit log records it.
package struct PolicyLoadRecord: Sendable {
    package enum Outcome: Sendable {
        case success(servers: Int, issuers: Int, warnings: Int, previousRevision: String?)
        /// `revision` is then the one still in force.
        case failure(problems: Int, error: String)
    }

    /// `start`, `sighup`, `file_change` or `request`.
    package var cause: String
    package var path: String
    package var revision: String
    package var outcome: Outcome
    /// Whether it is the shadow policy set (`--shadow-policies`), not the policy in force.
    package var shadow = false

    var fields: [(String, AuditEvent.Value)] {
        shadow ? [("shadow", .bool(true))] + outcomeFields : outcomeFields
    }

    private var outcomeFields: [(String, AuditEvent.Value)] {
        switch outcome {
        case let .success(servers, issuers, warnings, previousRevision):
            [
                ("result", .string("success")), ("cause", .string(cause)), ("path", .string(path)), ("policy_revision", .string(revision)),
                ("previous_revision", .string(previousRevision)), ("servers", .int(servers)), ("issuers", .int(issuers)),
                ("warnings", .int(warnings)),
            ]
        case let .failure(problems, error):
            [
                ("result", .string("failure")), ("cause", .string(cause)), ("path", .string(path)), ("policy_revision", .string(revision)),
                ("problems", .int(problems)), ("error", .string(error)),
            ]
        }
    }
}
