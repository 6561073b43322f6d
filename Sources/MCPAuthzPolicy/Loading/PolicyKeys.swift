/// The keys each object of the policy format accepts. The loader reads these tables and a test
/// holds `policies/schema.json` to them, so the schema editors see cannot drift from what loads.
package enum PolicyKeys {
    package static let document = ["version", "issuers", "servers"]
    package static let documentRequired = ["version"]
    package static let issuer = [
        "id", "issuer", "jwks_uri", "jwks_file", "algorithms", "scope_claims", "email_claim",
        "require_email_verified", "groups_claim", "token_header", "leeway_seconds", "token_types",
        "authorization_server", "secret_file", "introspection", "token_format", "dpop",
    ]
    package static let introspection = ["url", "client_id", "client_secret_file", "auth"]
    package static let introspectionRequired = ["url", "client_id", "client_secret_file"]
    package static let issuerRequired = ["id", "issuer"]
    package static let server = [
        "id", "match", "resource", "audiences", "issuers", "scopes_supported", "authorization_servers", "rules", "audit_arguments", "catalog",
        "pin_definitions", "limits", "allowed_origins", "resource_name", "resource_documentation",
    ]
    package static let serverRequired = ["id", "match", "issuers", "rules"]
    package static let match = ["host", "path_prefix"]
    package static let rule = ["name", "when", "allow", "deny", "mode"]
    package static let limit = ["name", "when", "applies_to", "key", "rate", "burst", "quota"]
    package static let limitRequired = ["name", "key"]
    package static let ruleRequired = ["name"]
    package static let condition = [
        "issuers", "scopes", "any_scopes", "emails", "email_domains", "subjects", "clients", "groups", "claims", "arguments", "not",
    ]
    package static let argumentMatcher = ["equals", "one_of", "pattern", "min", "max", "max_length", "present", "claim"]
    package static let targets = ["methods", "tools", "prompts", "resources", "annotations"]
    package static let testFile = ["cases"]
    package static let testCase = ["name", "server", "issuer", "claims", "request", "expect"]
    package static let testCaseRequired = ["name", "server", "claims", "request", "expect"]
    package static let testRequest = ["method", "name", "arguments", "client_ip", "count"]
    package static let testExpect = ["decision", "status", "reason", "rule", "required_scopes", "limit", "first_refused"]
}
