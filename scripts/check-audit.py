#!/usr/bin/env python3
"""The audit log under load, as an operator runs it: 20,000 decisions from 8 concurrent
keep-alive clients against `mcp-authz serve --audit FILE`, the file moved and SIGUSR1 sent
half-way (logrotate), SIGTERM right after the last answer. Then: exactly one well-formed
record per answered decision (matched by decision id), `audit verify` accepts the two files as
one chain, and a flipped byte makes it fail at that line. Also: an audit path that cannot be
opened stops start-up.

Usage: check-audit.py MCP_AUTHZ_BINARY [DECISIONS]
"""
import http.client
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

from checklib import check, finish, free_port, mint, one_server_policy, wait_for_port


def main():
    binary = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    clients = 8
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-audit-check-"))
    token = mint(work, "https://todos.test.example/mcp", {"reader": {"sub": "user-reader", "scope": "read:todos"}})["reader"]
    (work / "policy.yaml").write_text(one_server_policy(work, "{ path_prefix: /mcp }", "https://todos.test.example/mcp", """\
      - name: todo tools
        when: { scopes: [read:todos] }
        allow: { tools: [get_todo] }
"""))

    # A path that cannot be opened: no start.
    result = subprocess.run([binary, "serve", "--policies", str(work / "policy.yaml"), "--listen", f"127.0.0.1:{free_port()}",
                             "--audit", "/nonexistent-dir/audit.jsonl"], capture_output=True, text=True, timeout=30)
    check("unopenable audit path: exit 1 naming it", result.returncode == 1 and "/nonexistent-dir/audit.jsonl" in result.stderr,
          result.stderr)

    audit = work / "audit.jsonl"
    rotated = work / "audit.jsonl.1"
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--policies", str(work / "policy.yaml"), "--listen", f"127.0.0.1:{port}",
                               "--audit", str(audit), "--watch-interval", "0", "--log-level", "warning"],
                              stderr=subprocess.PIPE, text=True)
    wait_for_port(port)

    answered = {}
    lock = threading.Lock()
    sent = [0]
    rotated_at = [None]
    errors = []

    def client(seed):
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if sent[0] >= total:
                    break
                sent[0] += 1
                number = sent[0]
                if number == total // 2:
                    os.rename(audit, rotated)
                    server.send_signal(signal.SIGUSR1)
                    rotated_at[0] = number
            kind = rng.choice(["allow", "deny", "anonymous"])
            headers = {"X-Original-Method": "POST", "X-Original-URI": "/mcp", "MCP-Protocol-Version": "2026-07-28",
                       "Mcp-Method": "tools/call", "Mcp-Name": "get_todo" if kind != "deny" else "delete_todo",
                       "X-Request-Id": f"req-{number}"}
            if kind != "anonymous":
                headers["Authorization"] = f"Bearer {token}"
            try:
                connection.request("GET", "/auth", headers=headers)
                response = connection.getresponse()
                response.read()
                with lock:
                    answered[response.getheader("X-Authz-Decision-Id")] = (response.status, f"req-{number}")
            except Exception as error:  # noqa: BLE001 - any failure is reported
                errors.append(repr(error))
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    started = time.time()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - started
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=60)
    log = server.stderr.read()
    print(f"     {len(answered)} decisions from {clients} clients in {elapsed:.1f} s ({len(answered) / elapsed:.0f}/s); "
          f"file moved and SIGUSR1 after request {rotated_at[0]}")
    check("no request failed", not errors, "\n".join(errors[:5]))
    check("every request answered with its own decision id", len(answered) == total)
    check("SIGTERM: exit 0", code == 0, log)

    records, malformed = [], []
    for path in (rotated, audit):
        for number, line in enumerate(path.read_bytes().split(b"\n")[:-1], start=1):
            try:
                records.append(json.loads(line))
            except ValueError:
                malformed.append(f"{path.name}:{number}")
    decisions = [r for r in records if r.get("event") == "decision"]
    ids = [r["decision_id"] for r in decisions]
    check("every line is well-formed JSON", not malformed, str(malformed[:5]))
    check("one record per decision, none missing, none doubled", len(ids) == len(set(ids)) and set(ids) == set(answered),
          f"{len(ids)} records, {len(set(ids))} distinct, {len(answered)} answered")
    check("each record's status and request id match what the client got",
          all((r["status"], r["request_id"]) == answered.get(r["decision_id"]) for r in decisions))
    check("both files hold records (the reopen split them)",
          any(r.get("event") == "decision" for r in map(json.loads, rotated.read_bytes().split(b"\n")[:-1]))
          and any(r.get("event") == "audit_reopen" for r in map(json.loads, audit.read_bytes().split(b"\n")[:-1])))
    check("the log ends with audit_stop", records[-1].get("event") == "audit_stop")
    check("rotated file is 0600, new file is 0600",
          oct(rotated.stat().st_mode & 0o777) == "0o600" and oct(audit.stat().st_mode & 0o777) == "0o600")
    check("no token in the log", token.encode() not in rotated.read_bytes() + audit.read_bytes())

    verify = subprocess.run([binary, "audit", "verify", str(rotated), str(audit)], capture_output=True, text=True)
    check("audit verify accepts the chain across both files", verify.returncode == 0, verify.stdout + verify.stderr)

    lines = audit.read_bytes().split(b"\n")
    target = len(lines) // 2
    tampered = work / "tampered.jsonl"
    flipped = bytearray(b"\n".join(lines))
    offset = sum(len(line) + 1 for line in lines[:target - 1]) + len(lines[target - 1]) // 2
    flipped[offset] ^= 0x01
    tampered.write_bytes(bytes(flipped))
    verify = subprocess.run([binary, "audit", "verify", str(tampered)], capture_output=True, text=True)
    named = re.search(r"tampered\.jsonl:(\d+):", verify.stderr)
    check(f"a flipped byte on line {target} fails verify at that line",
          verify.returncode == 1 and named and int(named.group(1)) == target, verify.stderr)
    finish("audit")


if __name__ == "__main__":
    main()
