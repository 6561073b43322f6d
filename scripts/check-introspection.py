#!/usr/bin/env python3
"""Token introspection (RFC 7662) at the process level: the sidecar serving /auth and
/v1/decide for an issuer whose tokens are opaque, against a stub endpoint written here that
answers each token its own way (active, inactive, slow, garbage, `active` as a string, an error
status) and then goes down. Every fault must refuse with `introspection_unavailable`, one call
must serve many concurrent requests, an answer must never outlive the cache bound, and no
token may reach the log or the audit.

    python3 scripts/check-introspection.py .build/debug/mcp-authz
"""
import http.client
import json
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, serve_posts, wait_for_port  # noqa: E402

RESOURCE = "https://mcp.example.com/notes/mcp"


class Endpoint:
    """An introspection endpoint: what it answers depends on the token's name."""

    def __init__(self):
        self.calls = {}
        self.lock = threading.Lock()

        def answer(path, headers, body):
            token = urllib.parse.parse_qs(body.decode()).get("token", [""])[0]
            with self.lock:
                self.calls[token] = self.calls.get(token, 0) + 1
            status, text = self.answer(token, headers.get("Authorization", ""))
            return status, text, (3 if token == "slow-beyond-timeout" else 0.5) if token.startswith("slow") else 0

        self.server = serve_posts(answer)
        self.port = self.server.server_address[1]

    @staticmethod
    def answer(token, authorization):
        if authorization != "Basic bWNwLWF1dGh6OnMzY3JldA==":  # mcp-authz:s3cret
            return 401, '{"error":"invalid_client"}'
        active = {"active": True, "sub": "alice", "scope": "read:notes", "aud": RESOURCE, "exp": int(time.time()) + 600}
        if token.startswith("inactive"):
            return 200, '{"active":false}'
        if token.startswith("garbage"):
            return 200, "<html>maintenance</html>"
        if token.startswith("string"):
            return 200, json.dumps({**active, "active": "true"})
        if token.startswith("error"):
            return 500, json.dumps(active)
        if token.startswith("noaud"):
            return 200, json.dumps({k: v for k, v in active.items() if k != "aud"})
        if token.startswith("noexp"):
            return 200, json.dumps({k: v for k, v in active.items() if k != "exp"})
        return 200, json.dumps(active)

    def asked(self, token):
        with self.lock:
            return self.calls.get(token, 0)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def ask(port, token, tool="read_note"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    connection.request("GET", "/auth", headers={
        "X-Original-Method": "POST", "X-Original-URI": "/notes/mcp", "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call", "Mcp-Name": tool, "Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("X-Authz-Reason") or ("allowed" if response.status == 200 else None)


def decide(port, token):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    connection.request("POST", "/v1/decide", body=json.dumps({"server": "notes", "token": token, "method": "tools/call",
                                                               "name": "read_note"}))
    response = connection.getresponse()
    answer = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, answer


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-introspection-"))
    endpoint = Endpoint()
    (folder / "client.secret").write_text("s3cret\n")
    (folder / "client.secret").chmod(0o600)
    (folder / "policy.yaml").write_text(f"""version: 1
issuers:
  - id: opq
    issuer: https://opaque.idp.example/
    introspection:
      url: http://127.0.0.1:{endpoint.port}/introspect
      client_id: mcp-authz
      client_secret_file: client.secret
servers:
  - id: notes
    match: {{ path_prefix: /notes/mcp }}
    resource: {RESOURCE}
    issuers: [opq]
    rules:
      - name: readers
        when: {{ scopes: [read:notes] }}
        allow: {{ tools: [read_note] }}
""")
    port = free_port()
    log = folder / "serve.log"
    audit = folder / "audit.jsonl"
    process = subprocess.Popen(
        [binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{port}", "--audit", str(audit),
         "--watch-interval", "0", "--log-level", "debug", "--introspection-timeout", "1", "--introspection-cache-ttl", "2"],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        if not wait_for_port(port):
            raise SystemExit(f"mcp-authz did not start: see {log}")
        check("an active opaque token is allowed by the rules on the endpoint's word", ask(port, "active-1") == (200, "allowed"))
        check("the rules still decide: a tool they do not allow is denied", ask(port, "active-1", tool="delete_note")[0] == 403)
        check("the endpoint was asked once for both requests (the answer is kept)", endpoint.asked("active-1") == 1,
              str(endpoint.calls))
        check("a URL-unsafe b64token (+ / ~ =) reaches the endpoint intact", ask(port, "active+a/b~c==") == (200, "allowed")
              and endpoint.asked("active+a/b~c==") == 1, str(endpoint.calls))
        for token, reason in [("inactive-1", "token_inactive"), ("garbage-1", "introspection_unavailable"),
                              ("string-1", "introspection_unavailable"), ("error-1", "introspection_unavailable"),
                              ("slow-beyond-timeout", "introspection_unavailable"), ("noaud-1", "audience_mismatch")]:
            check(f"{token}: 401 {reason}", ask(port, token) == (401, reason))
        check("a fault is never kept: the garbage answer is asked for again", ask(port, "garbage-1")[1] == "introspection_unavailable"
              and endpoint.asked("garbage-1") == 2, str(endpoint.calls))
        with ThreadPoolExecutor(max_workers=40) as pool:
            outcomes = list(pool.map(lambda _: ask(port, "slow-shared"), range(40)))
        check("40 concurrent requests with one token: all allowed, one call to the endpoint",
              outcomes == [(200, "allowed")] * 40 and endpoint.asked("slow-shared") == 1, f"{set(outcomes)} {endpoint.calls}")
        status, answer = decide(port, "active-2")
        check("/v1/decide: an introspected token is decided alike (allow)", status == 200 and answer.get("allow") is True, str(answer))
        status, answer = decide(port, "inactive-2")
        check("/v1/decide: an inactive one is refused (status 401, token_inactive)",
          status == 200 and answer.get("allow") is False and answer.get("status") == 401 and answer.get("reason") == "token_inactive",
              str(answer))
        check("an answer without exp is allowed", ask(port, "noexp-1") == (200, "allowed"))
        endpoint.stop()
        check("the endpoint down: a new token is refused (introspection_unavailable)", ask(port, "active-3") == (401, "introspection_unavailable"))
        check("the endpoint down: a token answered before is served within the cache bound", ask(port, "noexp-1") == (200, "allowed"))
        time.sleep(2.2)
        check("the endpoint down: past the bound (2 s) the same token is refused, never allowed from memory",
              ask(port, "noexp-1") == (401, "introspection_unavailable"))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        connection.close()
        counted = {line.split("result=\"")[1].split("\"")[0]: float(line.rsplit(" ", 1)[1])
                   for line in metrics.splitlines() if line.startswith("mcp_authz_introspection_total{")}
        check("metrics count calls by result (active, inactive, error)", counted.get("active", 0) >= 4 and counted.get("inactive") == 2
              and counted.get("error", 0) >= 6, str(counted))
    finally:
        process.terminate()
        process.wait(15)
    time.sleep(0.2)
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    decisions = [r for r in records if r.get("event") == "decision"]
    check("audit: introspected decisions name the issuer and subject; refusals their reason",
          any(r.get("decision") == "allow" and r.get("issuer") == "https://opaque.idp.example/" and r.get("subject") == "alice"
              for r in decisions)
          and any(r.get("reason") == "token_inactive" for r in decisions)
          and any(r.get("reason") == "introspection_unavailable" for r in decisions), json.dumps(decisions[:3]))
    text = log.read_text() + audit.read_text()
    check("no token and no secret in the log or the audit",
          not any(t in text for t in ["active-1", "inactive-1", "slow-shared", "garbage-1", "s3cret"]), "")
    check("the log says why introspection failed", "token introspection failed" in log.read_text())
    finish("introspection checks")


if __name__ == "__main__":
    main()
