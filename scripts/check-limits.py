#!/usr/bin/env python3
"""`limits:` in a running sidecar: one key hammered from 8 keep-alive connections at once is
allowed exactly its burst (no more, no fewer), every refusal is `403 rate_limited` with
Retry-After and X-Authz-Limit, audited and counted in the metrics; a denied request never
counts; a client_ip limit reads the proxy's header; /v1/decide answers 429; a reload keeps the
counts. Tokens are minted by PyJWT.

    python3 scripts/check-limits.py .build/debug/mcp-authz
"""
import http.client
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, mint, one_server_policy, wait_for_port  # noqa: E402

AUDIENCE = "https://mcp.test.example/mcp"
BURST = 500
CONNECTIONS, PER_CONNECTION = 8, 250

RULES = """      - name: readers
        when: { scopes: [read] }
        allow: { methods: [initialize], tools: [get_todo, search] }
"""
LIMITS = f"""    limits:
      - name: per caller
        key: [subject]
        rate: 1/h
        burst: {BURST}
      - name: searches per address
        applies_to: {{ tools: [search] }}
        key: [client_ip]
        rate: 1/h
        burst: 3
"""


def ask(connection, token, tool, client_ip=None):
    headers = {"X-Original-Method": "POST", "X-Original-URI": "/mcp", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": tool, "Authorization": f"Bearer {token}"}
    if client_ip:
        headers["X-Real-IP"] = client_ip
    connection.request("GET", "/auth", headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/mcp-authz"
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-limits-"))
    tokens = mint(work, AUDIENCE, {"alice": {"sub": "alice", "scope": "read"}, "bob": {"sub": "bob", "scope": "read"},
                                   "carol": {"sub": "carol", "scope": "read"}, "nobody": {"sub": "nobody"}})
    policy = work / "policy.yaml"
    policy.write_text(one_server_policy(work, "{ path_prefix: /mcp }", AUDIENCE, RULES, LIMITS))
    port, audit = free_port(), work / "audit.jsonl"
    process = subprocess.Popen([binary, "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{port}", "--audit", str(audit),
                                "--watch-interval", "0.2", "--log-level", "error"])
    try:
        check("serve starts with a policy that has limits", wait_for_port(port))

        # One key from 8 connections at once: exactly the burst is allowed.
        results, lock = [], threading.Lock()

        def hammer():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = [ask(connection, tokens["alice"], "get_todo") for _ in range(PER_CONNECTION)]
            connection.close()
            with lock:
                results.extend(mine)

        workers = [threading.Thread(target=hammer) for _ in range(CONNECTIONS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        allowed = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] == 403]
        total = CONNECTIONS * PER_CONNECTION
        check(f"{total} requests of one caller from {CONNECTIONS} connections at once: exactly {BURST} allowed "
              f"({len(allowed)}), the rest refused ({len(refused)})", len(allowed) == BURST and len(refused) == total - BURST)
        check("every refusal is 403 rate_limited with X-Authz-Limit and a Retry-After in seconds",
              all(h.get("x-authz-reason") == "rate_limited" and h.get("x-authz-limit") == "per caller"
                  and h.get("retry-after", "").isdigit() and 1 <= int(h["retry-after"]) <= 3600 for _, h, _ in refused),
              str(refused[:1]))
        body = json.loads(refused[0][2]) if refused else {}
        check("the refusal's body names the limit and when to retry",
              body.get("reason") == "rate_limited" and body.get("limit") == "per caller" and isinstance(body.get("retry_after"), int),
              str(body))

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        # Another caller has its own bucket; a denied request never counts.
        for _ in range(5):
            ask(connection, tokens["nobody"], "get_todo")
        status, _, _ = ask(connection, tokens["bob"], "get_todo")
        check("another caller has a bucket of its own", status == 200)
        denied = [ask(connection, tokens["nobody"], "get_todo")[1].get("x-authz-reason") for _ in range(3)]
        check("a caller the rules deny is denied by the rules, never counted", denied == ["no_matching_rule"] * 3, str(denied))

        # A limit keyed by the proxy's X-Real-IP: three searches per address.
        by_address = [ask(connection, tokens["bob"], "search", "192.0.2.7")[0] for _ in range(4)]
        other = ask(connection, tokens["carol"], "search", "192.0.2.8")[0]
        same = ask(connection, tokens["carol"], "search", "192.0.2.7")
        check("client_ip: three searches from one address, the fourth refused; another address has room",
              by_address == [200, 200, 200, 403] and other == 200 and same[0] == 403
              and same[1].get("x-authz-limit") == "searches per address", f"{by_address} {other} {same[1]}")

        # /v1/decide answers the limit as 429.
        connection.request("POST", "/v1/decide", body=json.dumps({"server": "todos", "token": tokens["alice"], "method": "tools/call",
                                                                   "name": "get_todo"}), headers={"Content-Type": "application/json"})
        answer = json.loads(connection.getresponse().read())
        check("/v1/decide: status 429, reason rate_limited, limit and retry_after",
              answer.get("allow") is False and answer.get("status") == 429 and answer.get("reason") == "rate_limited"
              and answer.get("limit") == "per caller" and isinstance(answer.get("retry_after"), int) and answer.get("rule") == "readers",
              str(answer))

        # A reload (a rule added) keeps the counts: alice stays limited.
        policy.write_text(one_server_policy(work, "{ path_prefix: /mcp }", AUDIENCE,
                                            RULES + "      - name: ping\n        allow: { methods: [ping] }\n", LIMITS))
        deadline, reloaded = time.time() + 10, False
        while time.time() < deadline and not reloaded:
            reloaded = any(json.loads(line).get("event") == "policy_load" and json.loads(line).get("cause") != "start"
                           for line in audit.read_text().splitlines() if line.strip())
            time.sleep(0.1)
        status, headers, _ = ask(connection, tokens["alice"], "get_todo")
        check("after a reload the counts are kept: the caller is still limited",
              reloaded and status == 403 and headers.get("x-authz-reason") == "rate_limited")

        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        counted = re.search(r'mcp_authz_rate_limited_total\{[^}]*limit="per caller"[^}]*\} (\d+)', metrics)
        connection.close()
        check(f"mcp_authz_rate_limited_total counts each refusal of the limit ({counted.group(1) if counted else None})",
              counted is not None and int(counted.group(1)) == total - BURST + 2, metrics[-500:])
    finally:
        process.terminate()
        process.wait(timeout=15)
    records = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
    limited = [r for r in records if r.get("event") == "decision" and r.get("reason") == "rate_limited"]
    check(f"audit: each refusal recorded with its limit ({len(limited)})",
          len(limited) == total - BURST + 2 + 2 and all(r.get("limit") and r.get("status") == 429 and r.get("decision") == "deny"
                                                        for r in limited)
          and sum(r["limit"] == "per caller" for r in limited) == total - BURST + 2)
    shutil.rmtree(work, ignore_errors=True)
    finish("limits")


if __name__ == "__main__":
    main()
