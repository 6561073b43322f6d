#!/usr/bin/env python3
"""The attack suite, first part: hostile tokens and requests against a running `mcp-authz
serve`, with every token forged by independent code (PyJWT, cryptography, or bytes put together
here). Each case asserts the exact status and reason code, and that the audit log holds a record
of that decision with the same reason. A trap server on 127.0.0.1 stands where `jku`, `x5u` and
embedded keys point: it must never be asked anything.

Usage: check-attacks.py MCP_AUTHZ_BINARY
"""
import base64
import hashlib
import hmac as hmac_module
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from checklib import check, finish, free_port, serve_documents, wait_for_port

ISSUER = "https://idp.attack.example/"
RESOURCE = "https://todos.attack.example/mcp"
KID = "good-1"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header, claims, signature=b""):
    """A JWS put together by hand, so that nothing normalizes what an attacker would send."""
    encode = (lambda part: part if isinstance(part, bytes) else json.dumps(part).encode())
    return f"{b64(encode(header))}.{b64(encode(claims))}.{b64(signature)}"


class Sidecar:
    def __init__(self, binary, folder, jwks_uri, extra_issuers="", extra_accepted="", args=(), env=None):
        self.folder = folder
        (folder / "policy.yaml").write_text(f"""version: 1
issuers:
  - id: idp
    issuer: {ISSUER}
    jwks_uri: {jwks_uri}
    algorithms: [RS256, ES256]
{extra_issuers}servers:
  - id: todos
    match: {{ path_prefix: /mcp }}
    resource: {RESOURCE}
    issuers: [idp{extra_accepted}]
    scopes_supported: [read:todos, offline_access]
    allowed_origins: [https://app.example.com]
    catalog: catalog.json
    rules:
      - name: basics
        allow: {{ methods: [initialize, ping, tools/list] }}
      - name: todo tools
        when: {{ scopes: [read:todos] }}
        allow: {{ tools: [get_todo] }}
      - name: small refunds to our repositories
        when: {{ scopes: [read:todos], arguments: {{ amount: {{ max: 100 }}, repo: "acme/*" }} }}
        allow: {{ tools: [refund] }}
      - name: no refunds to blocked accounts
        when: {{ arguments: {{ account: "blocked-*" }} }}
        deny: {{ tools: [refund] }}
""")
        # refund's account is mirrored into Mcp-Param-Account (x-mcp-header).
        (folder / "catalog.json").write_text(json.dumps({"tools": [
            {"name": "get_todo", "inputSchema": {"type": "object"}},
            {"name": "refund", "inputSchema": {"type": "object", "properties": {
                "amount": {"type": "number"}, "repo": {"type": "string"},
                "account": {"type": "string", "x-mcp-header": "Account"}}}}]}))
        self.port = free_port()
        self.audit = folder / "audit.jsonl"
        self.process = subprocess.Popen(
            [binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{self.port}",
             "--audit", str(self.audit), "--watch-interval", "0", "--log-level", "error", *args],
            stdout=subprocess.DEVNULL, stderr=open(folder / "serve.log", "w"), env={**os.environ, **(env or {})})
        if not wait_for_port(self.port):
            raise SystemExit("mcp-authz did not start")

    def ask(self, token=None, tool="get_todo", body=None, headers=None, raw_authorization=None):
        """One forward-auth call as nginx makes it; returns (status, headers)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.putrequest("POST" if body is not None else "GET", "/auth", skip_accept_encoding=True)
        fields = {"X-Original-Method": "POST", "X-Original-URI": "/mcp", "MCP-Protocol-Version": "2026-07-28",
                  "Mcp-Method": "tools/call", "Mcp-Name": tool}
        if body is not None:
            fields = {"X-Original-Method": "POST", "X-Original-URI": "/mcp", "Content-Type": "application/json"}
        fields.update(headers or {})
        if token is not None:
            fields["Authorization"] = f"Bearer {token}"
        for name, value in fields.items():
            connection.putheader(name, value.encode())  # UTF-8 bytes as sent, not refused by http.client
        if raw_authorization is not None:
            connection.putheader("Authorization", raw_authorization)
        data = body.encode() if isinstance(body, str) else body
        if data is not None:
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, response.headers

    def audited(self, decision_id, seconds=3):
        """The audit record of a decision (the writer flushes within 100 ms)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            for line in self.audit.read_text().splitlines():
                if decision_id and f'"decision_id":"{decision_id}"' in line:
                    return json.loads(line)
            time.sleep(0.05)
        return None

    def stop(self):
        self.process.terminate()
        self.process.wait(15)


def run_cases(sidecar, cases):
    """Each case: the exact status and reason, and an audit record with that reason."""
    for name, request, status, reason in cases:
        try:
            answer, headers = sidecar.ask(**request)
        except (OSError, http.client.HTTPException) as error:
            check(f"{name}: answered", False, repr(error))
            continue
        got = headers.get("X-Authz-Reason") or ("allowed" if answer == 200 else None)
        record = sidecar.audited(headers.get("X-Authz-Decision-Id"))
        check(f"{name}: {status} {reason}", answer == status and got == reason, f"got {answer} {got}")
        check(f"{name}: audited with that reason", record is not None and record.get("reason") == got
              and record.get("status") == answer, json.dumps(record))


def post(port, path, data):
    """A POST to the decision API; returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def check_limits(binary, key, jwk, good_claims):
    """Every limit set low, by flag or by environment variable: each refuses precisely (status,
    reason, audit record), none hangs, and requests within the limits still pass."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-limits-"))
    second = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    second_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(second.public_key()))
    second_jwk.update({"kid": "second", "alg": "RS256", "use": "sig"})
    idp = serve_documents({"/jwks.json": {"keys": [jwk]}, "/crowded.json": {"keys": [jwk, second_jwk]},
                           "/bulky.json": {"keys": [jwk], "padding": "x" * 5000}})
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    base = f"http://127.0.0.1:{idp.server_address[1]}"
    issuers = {"crowded": base + "/crowded.json", "bulky": base + "/bulky.json",
               "silent": f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json"}
    extra = "".join(f"  - id: {name}\n    issuer: https://{name}.attack.example/\n    jwks_uri: {uri}\n    algorithms: [RS256]\n"
                    for name, uri in issuers.items())
    sidecar = Sidecar(binary, folder, base + "/jwks.json", extra_issuers=extra, extra_accepted=", crowded, bulky, silent",
                      args=["--max-token-bytes", "2048", "--max-json-depth", "4", "--max-header-bytes", "8192",
                            "--jwks-max-keys", "1", "--jwks-fetch-timeout", "0.5"],
                      env={"MCP_AUTHZ_MAX_BATCH": "3", "MCP_AUTHZ_MAX_BODY_BYTES": "1000", "MCP_AUTHZ_JWKS_MAX_BYTES": "4096",
                           "MCP_AUTHZ_MAX_FILTER_NAMES": "2"})

    def token(claims=None, issuer=ISSUER):
        return jwt.encode({**good_claims, "iss": issuer, **(claims or {})}, key, algorithm="RS256", headers={"kid": KID})

    good = token()

    def call(arguments):
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_todo", "arguments": arguments}})

    pings = lambda n: json.dumps([{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(n)])
    padded = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + "x" * 1200 + '"}}'
    run_cases(sidecar, [
        ("--max-token-bytes 2048: a 3 KB token", {"token": token({"pad": "x" * 3000})}, 401, "token_too_large"),
        ("--max-token-bytes 2048: a token within it", {"token": good}, 200, "allowed"),
        ("--max-json-depth 4: arguments nested 6 deep", {"token": good, "body": call({"a": {"b": {"c": {}}}})}, 403, "body_invalid"),
        ("--max-json-depth 4: arguments nested 3 deep", {"token": good, "body": call({})}, 200, "allowed"),
        ("MCP_AUTHZ_MAX_BATCH=3: a batch of 4", {"token": good, "body": pings(4)}, 403, "batch_too_large"),
        ("MCP_AUTHZ_MAX_BATCH=3: a batch of 3", {"token": good, "body": pings(3)}, 200, "allowed"),
        ("MCP_AUTHZ_MAX_BODY_BYTES=1000: a 1.2 KB body", {"token": good, "body": padded}, 403, "body_too_large"),
        ("--jwks-max-keys 1: an issuer publishing 2 keys", {"token": token(issuer="https://crowded.attack.example/")}, 401,
         "jwks_unavailable"),
        ("MCP_AUTHZ_JWKS_MAX_BYTES=4096: an issuer's 5 KB JWKS", {"token": token(issuer="https://bulky.attack.example/")}, 401,
         "jwks_unavailable"),
    ])
    started = time.monotonic()
    run_cases(sidecar, [("--jwks-fetch-timeout 0.5: an issuer that never answers",
                         {"token": token(issuer="https://silent.attack.example/")}, 401, "jwks_unavailable")])
    waited = time.monotonic() - started
    check("that refusal came within the fetch timeout, no hang", waited < 3, f"{waited:.2f} s")
    question = json.dumps({"server": "todos", "token": good, "method": "ping", "params": {"x": "x" * 1200}})
    check("MCP_AUTHZ_MAX_BODY_BYTES=1000: the decision API answers 413", post(sidecar.port, "/v1/decide", question) == 413)
    names = json.dumps({"server": "todos", "token": good, "tools": ["a", "b", "c"]})
    check("MCP_AUTHZ_MAX_FILTER_NAMES=2: a filter of 3 names is refused with 400", post(sidecar.port, "/v1/filter", names) == 400)
    try:
        status, _ = sidecar.ask(token=good, headers={"X-Filler": "x" * 10000})
    except (OSError, http.client.HTTPException) as error:
        status = repr(error)
    check("--max-header-bytes 8192: a 10 KB header block is refused with 431", status == 431, str(status))
    check("still serving within the limits", sidecar.ask(token=good)[0] == 200)
    sidecar.stop()
    # The same requests at the default limits pass: the limits set above were what refused them.
    defaults = Sidecar(binary, pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-defaults-")), base + "/jwks.json",
                       extra_issuers=extra, extra_accepted=", crowded, bulky, silent")
    run_cases(defaults, [
        ("default limits: the 3 KB token", {"token": token({"pad": "x" * 3000})}, 200, "allowed"),
        ("default limits: arguments nested 6 deep", {"token": good, "body": call({"a": {"b": {"c": {}}}})}, 200, "allowed"),
        ("default limits: the batch of 4", {"token": good, "body": pings(4)}, 200, "allowed"),
        ("default limits: the 1.2 KB body", {"token": good, "body": padded}, 200, "allowed"),
        ("default limits: the issuer publishing 2 keys", {"token": token(issuer="https://crowded.attack.example/")}, 200,
         "allowed"),
        ("default limits: the issuer's 5 KB JWKS", {"token": token(issuer="https://bulky.attack.example/")}, 200, "allowed"),
    ])
    defaults.stop()
    (folder / "big.yaml").write_text("version: 1\n" + "# padding\n" * 20)
    started = subprocess.run([binary, "serve", "--policies", str(folder / "big.yaml"), "--max-policy-bytes", "100",
                              "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=20)
    check("--max-policy-bytes 100: a 211-byte policy is refused at start, naming the limit",
          started.returncode != 0 and "100" in started.stderr, f"exit {started.returncode}: {started.stderr.strip()[:200]}")
    idp.shutdown()
    silent.close()


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-attacks-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    idp = serve_documents({"/jwks.json": {"keys": [jwk, ec_jwk]}})
    trap_hits = []
    trap = serve_documents({}, asked=trap_hits)
    trap_url = f"http://127.0.0.1:{trap.server_address[1]}"
    # An issuer that signs with a shared secret (HS256), beside the RSA one.
    secret = os.urandom(32).hex()
    (folder / "shared.key").write_text(secret + "\n")
    os.chmod(folder / "shared.key", 0o600)
    shared_issuer = "https://shared.test.example/"
    sidecar = Sidecar(binary, folder, f"http://127.0.0.1:{idp.server_address[1]}/jwks.json",
                      extra_issuers=f"  - id: shared\n    issuer: {shared_issuer}\n    secret_file: shared.key\n    algorithms: [HS256]\n",
                      extra_accepted=", shared")
    now = int(time.time())
    good_claims = {"iss": ISSUER, "aud": RESOURCE, "sub": "alice", "scope": "read:todos", "iat": now, "exp": now + 600}

    def signed(claims=None, header=None, signer=key):
        return jwt.encode(claims if claims is not None else good_claims, signer, algorithm="RS256",
                          headers={"kid": KID, **(header or {})})

    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hmac_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    hmac_body = b64(json.dumps(good_claims).encode())
    key_confusion = (f"{hmac_header}.{hmac_body}."
                     + b64(hmac_module.new(public_pem, f"{hmac_header}.{hmac_body}".encode(), hashlib.sha256).digest()))
    good = signed()
    header_part, claims_part, _ = good.split(".")
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other.public_key()))
    # CVE-2022-21449: an ES256 signature of r = s = 0 (64 zero bytes).
    psychic = compact({"alg": "ES256", "kid": "ec-1"}, good_claims, bytes(64))

    def signed_bytes(payload):
        """Claims as raw bytes (JSON no encoder would write), signed with the issuer's key."""
        head, body = b64(json.dumps({"alg": "RS256", "kid": KID}).encode()), b64(payload)
        return f"{head}.{body}." + b64(key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()))

    duplicate_claims = (b'{"iss":"' + ISSUER.encode() + b'","aud":"' + RESOURCE.encode() + b'","sub":"alice","sub":"admin",'
                        + f'"scope":"read:todos","exp":{now + 600}}}'.encode())
    duplicate = signed_bytes(duplicate_claims)
    es256 = jwt.encode(good_claims, ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    overflowing_exp = signed_bytes(json.dumps({k: v for k, v in good_claims.items() if k != "exp"})[:-1].encode()
                                   + b', "exp": 1e400}')

    def refund(**changes):
        """A tools/call body for the refund tool: amount 50 to acme/widgets, changed as given."""
        arguments = {"amount": 50, "repo": "acme/widgets", "account": "a-1", **changes}
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refund", "arguments": arguments}})

    shared_claims = {**good_claims, "iss": shared_issuer}

    def hmac_signed(claims, algorithm="HS256", with_secret=secret):
        return jwt.encode(claims, with_secret.encode(), algorithm=algorithm)

    cases = [
        # (name, request keyword arguments, status, reason)
        ("HS256 with the shared secret, naming the RSA issuer", {"token": hmac_signed(good_claims)}, 401, "algorithm_not_allowed"),
        ("HS512 with the right secret, for an issuer that allows HS256 only (alg switch)",
         {"token": hmac_signed(shared_claims, "HS512")}, 401, "algorithm_not_allowed"),
        ("HS256 with another secret", {"token": hmac_signed(shared_claims, with_secret=os.urandom(32).hex())}, 401, "signature_invalid"),
        ("RS256 naming the shared-secret issuer", {"token": signed(shared_claims)}, 401, "algorithm_not_allowed"),
        ("HS256 from the shared-secret issuer, for contrast", {"token": hmac_signed(shared_claims)}, 200, "allowed"),
        ("a browser Origin the server does not list (DNS rebinding)", {"token": good, "headers": {"Origin": "http://evil.example"}}, 403,
         "origin_not_allowed"),
        ("Origin null (a sandboxed page)", {"token": good, "headers": {"Origin": "null"}}, 403, "origin_not_allowed"),
        ("an unlisted Origin is refused before any token is read", {"headers": {"Origin": "https://app.example.com.evil.example"}}, 403,
         "origin_not_allowed"),
        ("the listed Origin, in another case and with its default port, for contrast",
         {"token": good, "headers": {"Origin": "HTTPS://App.Example.com:443"}}, 200, "allowed"),
        *[(f"alg {alg!r} with no signature", {"token": compact({"alg": alg, "kid": KID}, good_claims)}, 401,
           "algorithm_not_allowed") for alg in ("none", "None", "NONE", "nOnE")],
        ("HS256 signed with the RSA public key (key confusion)", {"token": key_confusion}, 401, "algorithm_not_allowed"),
        ("signature stripped", {"token": f"{header_part}.{claims_part}."}, 401, "signature_invalid"),
        ("signature by another key under the right kid", {"token": signed(signer=other)}, 401, "signature_invalid"),
        ("ES256 signature r = s = 0 (CVE-2022-21449)", {"token": psychic}, 401, "signature_invalid"),
        ("kid with path traversal", {"token": signed(header={"kid": "../../../../etc/passwd"})}, 401, "unknown_kid"),
        ("kid with SQL", {"token": signed(header={"kid": "x' OR '1'='1"})}, 401, "unknown_kid"),
        ("jku to another server, signed by its key", {"token": jwt.encode(good_claims, other, algorithm="RS256", headers={
            "kid": "attacker", "jku": trap_url + "/jwks.json"})}, 401, "unknown_kid"),
        ("x5u to another server", {"token": jwt.encode(good_claims, other, algorithm="RS256", headers={
            "kid": "attacker", "x5u": trap_url + "/cert.pem"})}, 401, "unknown_kid"),
        ("embedded jwk of the signing key", {"token": jwt.encode(good_claims, other, algorithm="RS256", headers={
            "kid": KID, "jwk": attacker_jwk})}, 401, "signature_invalid"),
        ("wrong iss", {"token": signed({**good_claims, "iss": "https://evil.example/"})}, 401, "issuer_untrusted"),
        ("no iss", {"token": signed({k: v for k, v in good_claims.items() if k != "iss"})}, 401, "claims_invalid"),
        ("wrong aud", {"token": signed({**good_claims, "aud": "https://other.example/mcp"})}, 401, "audience_mismatch"),
        ("no aud", {"token": signed({k: v for k, v in good_claims.items() if k != "aud"})}, 401, "audience_mismatch"),
        ("expired", {"token": signed({**good_claims, "exp": now - 3600})}, 401, "token_expired"),
        ("no exp", {"token": signed({k: v for k, v in good_claims.items() if k != "exp"})}, 401, "claims_invalid"),
        ("nbf in the future", {"token": signed({**good_claims, "nbf": now + 3600})}, 401, "token_not_yet_valid"),
        ("exp as a string", {"token": signed({**good_claims, "exp": str(now + 600)})}, 401, "claims_invalid"),
        ("exp as a huge number (10^30)", {"token": signed({**good_claims, "exp": 10**30})}, 401, "claims_invalid"),
        ("exp beyond any double (1e400)", {"token": overflowing_exp}, 401, "token_malformed"),
        ("nbf as a huge number (2^63)", {"token": signed({**good_claims, "nbf": 2**63})}, 401, "claims_invalid"),
        ("duplicated claim names (sub twice)", {"token": duplicate}, 401, "token_malformed"),
        ("token over 16 KiB", {"token": signed({**good_claims, "pad": "x" * 17000})}, 401, "token_too_large"),
        ("bytes that are not base64url", {"raw_authorization": "Bearer " + good[:20] + "\u00e9" + good[21:]}, 401,
         "token_malformed"),
        ("two Authorization headers", {"token": good, "raw_authorization": "Bearer " + good}, 401, "token_malformed"),
        ("tool name differing by case", {"token": good, "tool": "Get_todo"}, 403, "no_matching_rule"),
        ("tool name with a trailing space (body)", {"token": good, "body": json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_todo "}})}, 403, "no_matching_rule"),
        ("tool name differing by case (body)", {"token": good, "body": json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "GET_TODO"}})}, 403, "no_matching_rule"),
        # HTTP drops a header value's surrounding white space (RFC 9110 5.5), for the MCP server
        # too, which compares the header with the body: a name with spaces travels base64-encoded.
        ("Mcp-Name with trailing white space reads as HTTP trims it", {"token": good, "tool": "get_todo "}, 200, "allowed"),
        ("Mcp-Name naming a tool with a trailing space, base64 form", {"token": good, "tool": "=?base64?"
                                                                       + base64.b64encode(b"get_todo ").decode() + "?="},
         403, "no_matching_rule"),
        ("method with a Cyrillic look-alike letter", {"token": good, "headers": {"Mcp-Method": "tools/c\u0430ll"}}, 403,
         "no_matching_rule"),
        ("Mcp-Name disagreeing with the body", {"token": good, "headers": {"Mcp-Name": "get_todo"}, "body": json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_todo"}})}, 403, "header_mismatch"),
        ("JSON nested 10,000 deep", {"token": good, "body": "[" * 10000 + "]" * 10000}, 403, "body_invalid"),
        ("batch of 10,000 elements", {"token": good, "body": json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(10000)])}, 403, "batch_too_large"),
        ("body of 2 MiB", {"token": good, "body": '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'
                           + "x" * (2 << 20) + '"}}'}, 403, "body_too_large"),
        # Arguments: typed, never coerced; what cannot be compared fails closed.
        ("amount sent as the string \"50\"", {"token": good, "tool": "refund", "body": refund(amount="50")}, 403,
         "arguments_unavailable"),
        ("amount as a huge number (10^30)", {"token": good, "tool": "refund", "body": refund(amount=10**30)}, 403,
         "no_matching_rule"),
        ("amount beyond any double (1e400)", {"token": good, "tool": "refund",
                                               "body": refund(amount=0).replace('"amount": 0', '"amount": 1e400')}, 403,
         "body_invalid"),
        ("repo as a nested object where a string is expected", {"token": good, "tool": "refund",
                                                                "body": refund(repo={"name": "acme/x"})}, 403, "arguments_unavailable"),
        ("repo with a Cyrillic look-alike letter", {"token": good, "tool": "refund", "body": refund(repo="\u0430cme/x")}, 403,
         "no_matching_rule"),
        ("blocked account hidden in an array (the deny cannot be ruled out)",
         {"token": good, "tool": "refund", "body": refund(account=["blocked-1"])}, 403, "arguments_unavailable"),
        ("blocked account", {"token": good, "tool": "refund", "body": refund(account="blocked-1")}, 403, "denied_by_rule"),
        ("arguments not an object", {"token": good, "tool": "refund", "body": json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refund", "arguments": "amount=5"}})}, 403,
         "body_invalid"),
        ("refund named in headers only: arguments unseen", {"token": good, "tool": "refund"}, 403, "arguments_unavailable"),
        ("Mcp-Param-Account in base64 with padding it does not need", {"token": good, "tool": "refund", "headers": {
            "Mcp-Param-Account": "=?base64?" + base64.b64encode(b"blocked-1").decode() + "=?="}}, 403, "forward_request_invalid"),
        ("Mcp-Param-Account naming a blocked account, base64 form, headers only", {"token": good, "tool": "refund", "headers": {
            "Mcp-Param-Account": "=?base64?" + base64.b64encode(b"blocked-1").decode() + "?="}}, 403, "denied_by_rule"),
        # With a body, a 2026-07-28 client's Mcp-Param headers must say what the body says.
        ("Mcp-Param-Account disagreeing with the body (2026-07-28)", {"token": good, "tool": "refund", "body": refund(), "headers": {
            "Mcp-Param-Account": "a-1x", "MCP-Protocol-Version": "2026-07-28"}}, 403, "header_mismatch"),
        ("a body with a mapped argument and no Mcp-Param header (2026-07-28)", {"token": good, "tool": "refund",
                                                                               "body": refund(account="a-2"),
                                                                               "headers": {"MCP-Protocol-Version": "2026-07-28"}},
         403, "header_mismatch"),
        ("a small refund to our repository, for contrast", {"token": good, "tool": "refund", "body": refund()}, 200, "allowed"),
        ("the same with its Mcp-Param header (2026-07-28), for contrast", {"token": good, "tool": "refund", "body": refund(),
                                                                           "headers": {"Mcp-Param-Account": "a-1",
                                                                                       "MCP-Protocol-Version": "2026-07-28"}},
         200, "allowed"),
        ("the valid token, for contrast", {"token": good}, 200, "allowed"),
        ("a valid ES256 token, for contrast", {"token": es256}, 200, "allowed"),
    ]
    run_cases(sidecar, cases)
    status, headers = sidecar.ask()
    challenge = headers.get("WWW-Authenticate") or ""
    check("a 401 names the scopes the server lists, never offline_access (MCP 2026-07-28)",
          status == 401 and 'scope="read:todos"' in challenge and "offline_access" not in challenge, challenge)

    # CR/LF in a claim headed for X-Authz-*: percent-encoded, no header injected.
    status, headers = sidecar.ask(token=signed({**good_claims, "sub": "alice\r\nX-Injected: 1"}))
    check("CR/LF in sub: allowed, X-Authz-Subject percent-encoded, nothing injected",
          status == 200 and headers.get("X-Authz-Subject") == "alice%0D%0AX-Injected:%201" and "X-Injected" not in headers,
          f"{status} {dict(headers)}")
    # A header block over the server's limit: a precise refusal, and the sidecar keeps serving.
    try:
        status, _ = sidecar.ask(token=good, headers={"X-Filler": "x" * 70000})
    except (OSError, http.client.HTTPException) as error:
        status = repr(error)
    # Refused by the HTTP layer before any decision: 431, counted and audited as a refusal.
    check("a 70 KB header block is refused with 431", status == 431, str(status))
    time.sleep(0.3)
    refusals = [json.loads(line) for line in sidecar.audit.read_text().splitlines() if '"event":"request_refused"' in line]
    check("that refusal is audited (request_refused, header_too_large, 431)",
          len(refusals) == 1 and refusals[0].get("reason") == "header_too_large" and refusals[0].get("status") == 431,
          json.dumps(refusals))
    check("still serving after all of it", sidecar.ask(token=good)[0] == 200)
    check("no request reached the URLs tokens named (jku, x5u)", trap_hits == [], str(trap_hits))
    connection = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    connection.request("POST", "/v1/decide", body=json.dumps({"server": "todos", "token": hmac_signed(shared_claims),
                                                              "method": "tools/call", "name": "get_todo"}))
    answer = json.loads(connection.getresponse().read() or b"{}")
    connection.close()
    check("/v1/decide: the shared-secret issuer's HS256 token is verified alike (allow)", answer.get("allow") is True, str(answer))
    # A rotated secret file is read again on SIGHUP (the policy itself unchanged), and a token
    # the old secret signed is refused even though it was verified (and cached) before.
    rotated = os.urandom(32).hex()
    cached = hmac_signed(shared_claims)
    check("before the rotation: the old secret's token passes (and is cached)", sidecar.ask(token=cached)[0] == 200)
    (folder / "shared.key").write_text(rotated + "\n")
    sidecar.process.send_signal(signal.SIGHUP)
    deadline, statuses = time.time() + 10, (None, None)
    while time.time() < deadline:
        statuses = (sidecar.ask(token=hmac_signed(shared_claims, with_secret=rotated))[0], sidecar.ask(token=cached)[0])
        if statuses == (200, 401):
            break
        time.sleep(0.1)
    check("SIGHUP reads a rotated secret file: the new secret's tokens pass, the old one's (verified before) are refused",
          statuses == (200, 401), str(statuses))
    serve_log = (folder / "serve.log").read_text() + sidecar.audit.read_text()
    check("the rotated secret is in no log or audit record either", rotated not in serve_log)
    check("the shared secret is in no log or audit record", secret not in serve_log)
    # A secret shorter than the hash: the policy is refused, without printing the secret.
    short = os.urandom(8).hex()
    (folder / "short.key").write_text(short)
    os.chmod(folder / "short.key", 0o600)
    (folder / "short.yaml").write_text((folder / "policy.yaml").read_text().replace("shared.key", "short.key"))
    refused = subprocess.run([binary, "validate", str(folder / "short.yaml")], capture_output=True, text=True)
    check("a 16-byte secret for HS256 is refused by validate, naming the length needed, not the secret",
          refused.returncode == 1 and "holds a 16-byte secret; HS256 needs at least 32 bytes" in refused.stderr
          and short not in refused.stderr + refused.stdout, refused.stderr)
    sidecar.stop()
    idp.shutdown()
    trap.shutdown()
    check_limits(binary, key, jwk, good_claims)
    finish("attacks")


if __name__ == "__main__":
    main()
