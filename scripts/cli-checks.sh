#!/usr/bin/env bash
# The policy CLI as a user meets it: exit codes and messages on good and bad input.
# Usage: cli-checks.sh PATH/TO/mcp-authz
set -uo pipefail
bin=$1
here=$(cd "$(dirname "$0")/.." && pwd)
fixtures=$here/Tests/cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect NAME WANT_EXIT PATTERN -- COMMAND...: the command exits WANT_EXIT and its output
# (stdout and stderr) matches the extended regular expression PATTERN.
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [[ $rc -eq $want ]] && grep -Eq -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        printf 'FAIL %s: exit %s (want %s), output:\n%s\n' "$name" "$rc" "$want" "$out"
    fi
}

expect "valid policy folder" 0 '^policies: valid: 4 files, 3 issuers, 4 servers' -- \
    bash -c "cd '$here' && '$bin' validate policies"
expect "every problem of a bad policy at once" 1 'bad.yaml:4:5: unknown key .algoritms. in an issuer \(did you mean .algorithms.\?\)' -- \
    "$bin" validate "$fixtures/bad/bad.yaml"
expect "the bad policy's second problem is reported too" 1 "bad.yaml:14:26: rule 'r' names issuer 'idq', which is not defined \(did you mean 'idp'\?\)" -- \
    "$bin" validate "$fixtures/bad/bad.yaml"
expect "warnings do not fail validation" 0 "policy.yaml:12:28: warning: 'tools/lsit' is not an MCP method this version knows \(did you mean 'tools/list'\?\)" -- \
    "$bin" validate "$fixtures/warning"
expect "warnings fail validation under --strict" 1 'invalid under --strict: 1 warning' -- \
    "$bin" validate --strict "$fixtures/warning"
expect "a policy test that fails shows a diff" 1 'decision: expected allow, got deny' -- \
    "$bin" test "$fixtures/failing"
expect "the failing run ends with its count" 1 '^1 passed, 1 failed$' -- \
    "$bin" test "$fixtures/failing"
expect "a folder without test cases fails" 1 'no policy test cases found' -- \
    "$bin" test "$fixtures/claims" --policies "$fixtures/failing/policy.yaml"
expect "explain names the deciding rule" 0 'decision: deny \(403 denied_by_rule, rule "no deletes outside the admins group"\)' -- \
    "$bin" explain "$here/policies" --server todos --method tools/call --name delete_todo --claims "$fixtures/claims/bob.json"
expect "explain shows each rule considered" 0 '3\. allow "todo writes" .*applies via .delete_\*.; condition holds -> MATCH' -- \
    "$bin" explain "$here/policies" --server todos --method tools/call --name delete_todo --claims "$fixtures/claims/bob.json"

head -c 3000000 /dev/urandom >"$work/binary.yaml"
expect "binary file" 1 'binary.yaml:1:1: file is (binary|not valid UTF-8)' -- "$bin" validate "$work/binary.yaml"
python3 -c "print('version: 1\nservers: ' + '[' * 100000 + ']' * 100000)" >"$work/deep.yaml"
expect "deeply nested file" 1 'deep.yaml:2:[0-9]+: YAML nesting is deeper than the limit of 64 levels' -- "$bin" validate "$work/deep.yaml"
python3 -c "print('version: 1\n# ' + 'x' * 2000)" >"$work/big.yaml"
expect "file over the size cap" 1 'big.yaml:1:1: file is larger than the limit of 1000 bytes' -- \
    "$bin" validate --max-policy-bytes 1000 "$work/big.yaml"
printf 'version: 1\nservers: [ {id: x\n' >"$work/malformed.yaml"
expect "malformed YAML" 1 'malformed.yaml:3:1: invalid YAML' -- "$bin" validate "$work/malformed.yaml"
expect "missing path" 1 'no such file or folder' -- "$bin" validate "$work/nothing-here"
expect "schema rejects what the loader rejects" 1 'Additional properties are not allowed' -- \
    python3 "$here/scripts/check-schema.py" "$here/policies/schema.json" "$fixtures/bad/bad.yaml"
expect "explain of a tool call without --name is an error" 64 "--method tools/call needs --name \(the tool name\)" -- \
    "$bin" explain "$here/policies" --server todos --method tools/call --claims /dev/null
reproduce=$("$bin" test "$fixtures/failing" 2>&1 | sed -n 's/^    reproduce: //p')
expect "a failing case prints the explain command that reproduces it" 0 "decision: deny" -- \
    bash -c "${reproduce//mcp-authz explain/\"$bin\" explain}"
expect "-v lists the passing cases" 0 '^ok   .*images_test.yaml:3:5: alice may generate images' -- \
    bash -c "cd '$here' && '$bin' test -v policies"
expect "--junit writes JUnit XML with each case and its failure" 0 "tests=2 failures=1 failure=decision: expected allow" -- \
    bash -c "'$bin' test '$fixtures/failing' --junit '$work/junit.xml' >/dev/null; python3 -c \"
import xml.etree.ElementTree as E
suite = E.parse('$work/junit.xml').getroot().find('testsuite')
print('tests=%s failures=%s failure=%s' % (suite.get('tests'), suite.get('failures'), suite.find('testcase/failure').get('message')))\""
expect "the identity-provider issuer blocks validate" 0 '^.*identity-providers: valid: 1 file, 6 issuers' -- \
    "$bin" validate --strict "$here/docs/identity-providers"
expect "the identity-provider cases, in each provider's claim shape, pass" 0 '^12 passed, 0 failed' -- \
    "$bin" test "$here/docs/identity-providers"
expect "every issuer block of docs/identity-providers.md is the one in its policy file" 0 '^docs: 6 issuer blocks, each in the policy file$' -- \
    python3 "$here/scripts/check-docs.py"
expect "explain suggests the issuer a token's iss nearly names" 1 "matches no issuer of the policy \(did you mean 'https://acme.us.auth0.com/'\?\)" -- \
    bash -c "echo '{\"iss\": \"https://acme.us.auth0.com\", \"sub\": \"u\"}' | '$bin' explain '$here/docs/identity-providers' --server auth0-todos --method ping --claims -"

commit=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
expect "--version names the release and the commit" 0 "^mcp-authz [0-9]+\.[0-9]+\.[0-9]+[^ ]* \(commit $commit(-modified)?\)$" -- "$bin" --version
expect "version is the same" 0 "^mcp-authz [0-9]+\.[0-9]+\.[0-9]+[^ ]* \(commit $commit(-modified)?\)$" -- "$bin" version
expect "a bad --listen names the option and the forms" 64 \
    "--listen: invalid value '9090' \(given as the option\): expected HOST:PORT, \[IPv6\]:PORT or unix:PATH" -- \
    "$bin" serve --policies "$here/policies" --listen 9090
expect "a bad variable names it" 64 "--audit-failure: invalid value 'maybe' \(from MCP_AUTHZ_AUDIT_FAILURE\): expected deny or continue" -- \
    env MCP_AUTHZ_AUDIT_FAILURE=maybe "$bin" serve --policies "$here/policies"
printf 'version: 1\nservers: [\n' > "$work/shadow.yaml"
expect "an invalid shadow policy stops the start, naming itself" 1 "shadow.yaml: shadow policy invalid: 1 problem; not starting" -- \
    "$bin" serve --policies "$here/policies" --shadow-policies "$work/shadow.yaml" --listen 127.0.0.1:0
expect "catalog fetch wants an http(s) URL" 64 "the URL must be http:// or https:// with a host" -- "$bin" catalog fetch ftp://x/mcp
expect "catalog fetch names the server that cannot be reached" 1 "cannot fetch the catalog: http://127.0.0.1:9/mcp: " -- \
    "$bin" catalog fetch http://127.0.0.1:9/mcp --timeout 2
expect "explain takes the call's arguments" 0 "argument 'replicas' = 30, must be at least 1 and at most 20: fails" -- \
    bash -c "echo '{\"iss\": \"https://sso.example.com/realms/platform\", \"sub\": \"k\", \"groups\": [\"sre\"]}' | '$bin' explain '$here/policies' --server ops --method tools/call --name scale_service --arguments '{\"service\": \"web-a\", \"replicas\": 30}' --claims -"
expect "explain refuses arguments that are not a JSON object" 1 "--arguments must be a JSON object" -- \
    bash -c "echo '{\"iss\": \"https://sso.example.com/realms/platform\", \"sub\": \"k\"}' | '$bin' explain '$here/policies' --server ops --method tools/call --name scale_service --arguments '[1]' --claims -"

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
