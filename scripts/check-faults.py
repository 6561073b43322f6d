#!/usr/bin/env python3
"""mcp-authz serve under faults, as an operator meets them: each check reproduces one failure
found against earlier builds and asserts what must happen instead.

1. stdout audit pipe whose reader stops reading: the sidecar keeps answering /healthz, turns
   unhealthy after --audit-stall-timeout (403 audit_unavailable, /readyz 503, metric), and
   recovers when the reader reads again; every answered allow has its record, drops are counted
   by audit_gap (queued durability; written drops none), and the chain verifies.
2. A client that pipelines and never reads: the sidecar stops reading from it (the client can
   hand the kernel only a bounded amount) and its memory stays bounded; fast path and
   Hummingbird path both.
3. A taken port: serve and demo exit 1 within seconds with `cannot listen on HOST:PORT:
   address already in use`, whatever the audit destination.
4. A torn last audit line: the next start ends it, records `torn_tail`, and `audit verify`
   reports it as torn and verifies the rest.
5. Out of file descriptors: accepting pauses instead of spinning (CPU stays near idle), the
   failures are counted, and the sidecar serves again once descriptors are free.
6. JWKS: an unknown kid whose refresh is rate limited is refused at once even while a fetch is
   in flight; an IdP that refuses connections fails the fetch at once.
7. SIGKILL: the next start's audit_start says `unclean_shutdown`; after SIGTERM it does not.

Usage: check-faults.py MCP_AUTHZ_BINARY
"""
import http.client
import json
import os
import pathlib
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from checklib import check, finish, free_port, mint, one_server_policy, serve_documents, wait_for_port

RESOURCE = "https://todos.test.example/mcp"
RULES = """\
      - name: todo tools
        when: { scopes: [read:todos] }
        allow: { tools: [get_todo] }
"""


def auth_request(token, tool="get_todo"):
    return (f"GET /auth HTTP/1.1\r\nHost: sidecar\r\nX-Original-URI: /mcp\r\nX-Original-Method: POST\r\n"
            f"MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: {tool}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode()


def ask(port, path="/auth", token=None, timeout=5):
    """One request on a new connection: (status, headers dict, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"X-Original-URI": "/mcp", "X-Original-Method": "POST", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "get_todo"}
    if token:
        headers["Authorization"] = "Bearer " + token
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def timed_ask(port, token):
    """An /auth call with `token`: (status, headers, seconds it took)."""
    started = time.time()
    status, headers, _ = ask(port, token=token, timeout=15)
    return status, headers, time.time() - started


def metric(port, name):
    _, _, body = ask(port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        parts = stat.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def start(binary, policy, *flags, stdout=subprocess.DEVNULL, limit_files=None):
    port = free_port()
    command = [binary, "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{port}", "--watch-interval", "0",
               "--log-level", "info", *flags]
    if limit_files:
        command = ["bash", "-c", f'ulimit -n {limit_files}; exec "$@"', "serve-with-limit", *command]
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    if not wait_for_port(port):
        process.kill()
        raise SystemExit("serve did not start: " + process.communicate()[1].decode())
    return process, port


def stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return None


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def stalled_stdout(binary, work, policy, token, durability):
    """1: the audit log's stdout pipe stops being read. `queued`: answers go while the buffer
    takes records, so it fills and records are dropped (counted). `written` (the default): each
    answer waits for its record's write, so the allow waiting when the pipe stalls is the one
    denied, and nothing is dropped."""
    process, port = start(binary, policy, "--audit", "-", "--audit-stall-timeout", "1", "--audit-buffer", "64",
                          "--audit-durability", durability, stdout=subprocess.PIPE)
    allowed_ids, withheld = [], None
    # Fill the pipe (64 KiB) and, in queued mode, the buffer.
    for _ in range(400):
        status, headers, _ = ask(port, token=token)
        if status == 200:
            allowed_ids.append(headers["x-authz-decision-id"])
        elif headers.get("x-authz-reason") == "audit_unavailable":
            withheld = headers.get("x-authz-decision-id")
            break
    started = time.time()
    status, _, body = ask(port, "/healthz", timeout=3)
    check(f"stalled stdout ({durability}): /healthz still answers at once", status == 200 and time.time() - started < 1.0)
    deadline = time.time() + 5
    while time.time() < deadline and ask(port, "/readyz")[0] != 503:
        time.sleep(0.1)
    status, _, body = ask(port, "/readyz")
    check(f"stalled stdout ({durability}): /readyz 503 with the audit log failing", status == 503 and b'"audit":"failing"' in body, body.decode())
    status, headers, _ = ask(port, token=token)
    check(f"stalled stdout ({durability}): an allowed call is denied audit_unavailable",
          status == 403 and headers.get("x-authz-reason") == "audit_unavailable", f"{status} {headers}")
    check(f"stalled stdout ({durability}): metric mcp_authz_audit_healthy 0", metric(port, "mcp_authz_audit_healthy") == 0)

    # The reader reads again: the log recovers, and allows come back.
    captured = []
    reader = threading.Thread(target=lambda: captured.append(process.stdout.read()), daemon=True)
    reader.start()
    deadline = time.time() + 10
    while time.time() < deadline and ask(port, "/readyz")[0] != 200:
        time.sleep(0.1)
    check(f"stalled stdout ({durability}): /readyz 200 once the pipe is read again", ask(port, "/readyz")[0] == 200)
    status, headers, _ = ask(port, token=token)
    check(f"stalled stdout ({durability}): allowed again after recovery", status == 200)
    if status == 200:
        allowed_ids.append(headers["x-authz-decision-id"])
    check(f"stalled stdout ({durability}): SIGTERM exits 0", stop(process) == 0)
    reader.join(timeout=10)
    text = captured[0].decode() if captured else ""
    lines = records(text)
    audited = {line.get("decision_id") for line in lines if line.get("decision") == "allow" or line.get("status") == 200}
    missing = [i for i in allowed_ids if i not in audited]
    check(f"stalled stdout ({durability}): every answered allow ({len(allowed_ids)}) has its record", not missing and allowed_ids,
          f"missing {len(missing)}: {missing[:3]}")
    gaps = [line for line in lines if line.get("event") == "audit_gap"]
    if durability == "queued":
        check(f"stalled stdout ({durability}): the records dropped while failing are counted by audit_gap",
              len(gaps) == 1 and gaps[0]["dropped"] > 0, json.dumps(gaps))
    else:
        check(f"stalled stdout ({durability}): nothing dropped (each answer waited for its record), so no audit_gap",
              not gaps, json.dumps(gaps))
        # The allow that waited when the pipe stalled: its record was already in the block, and
        # is written once the pipe is read, followed by the denial it was answered with.
        same = [(line.get("decision"), line.get("reason")) for line in lines if line.get("decision_id") == withheld]
        check(f"stalled stdout ({durability}): the withheld allow's record is followed by its denial (same decision id)",
              withheld and same == [("allow", "allowed"), ("deny", "audit_unavailable")], f"{withheld}: {same}")
    check(f"stalled stdout ({durability}): audit_stop ends the log", lines and lines[-1].get("event") == "audit_stop")
    (work / "stdout-audit.jsonl").write_text(text)
    verify = subprocess.run([binary, "audit", "verify", str(work / "stdout-audit.jsonl")], capture_output=True, text=True)
    check(f"stalled stdout ({durability}): the chain verifies", verify.returncode == 0, verify.stdout + verify.stderr)


def pipelining_without_reading(binary, policy, token):
    """2: a client that pipelines and never reads its answers. The sidecar must stop reading
    from it: the client's sends then block for good (a sidecar that keeps reading, deciding and
    buffering answers lets them through for as long as the client sends)."""
    process, port = start(binary, policy, "--audit", "none")
    for label, request in [("fast path", auth_request(token)), ("Hummingbird", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")]:
        before = rss_mib(process.pid)
        # Once the sidecar stops reading, the kernel still lets a little through now and then
        # (it grows a receive buffer as data arrives, unless fixed as here, and compacts full
        # ones), each time a little later: measured with these buffers, sends moved at 1.1,
        # 3.5, 6.1, ... 11.2 s, then not again in 20 s. A sidecar that keeps reading moves them without a
        # pause. So a pause of 1.5 s must come within 30 s (one run paused only after 12 s).
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        client.connect(("127.0.0.1", port))
        client.setblocking(False)
        chunk = request * 2000
        sent = 0
        started = last_progress = time.time()
        while time.time() - last_progress < 1.5 and time.time() - started < 30:
            _, writable, _ = select.select([], [client], [], 0.1)
            if writable:
                try:
                    # Whole requests only: a partial send goes on from where it stopped.
                    offset = sent % len(chunk)
                    sent += client.send(chunk[offset:])
                    last_progress = time.time()
                except BlockingIOError:
                    pass
        stopped = time.time() - last_progress >= 1.5
        grown = rss_mib(process.pid) - before
        check(f"pipelining without reading ({label}): the sidecar stops reading "
              f"(client's sends blocked after {sent / 2**20:.1f} MiB)", stopped,
              f"still taking bytes after {time.time() - started:.0f} s ({sent / 2**20:.1f} MiB)")
        check(f"pipelining without reading ({label}): memory bounded (grew {grown:.1f} MiB)", grown < 64)
        client.close()
    time.sleep(0.5)
    check("pipelining without reading: still answering others", ask(port, token=token)[0] == 200)
    stop(process)


def taken_port(binary, policy):
    """3: the port is taken."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    expected = f"cannot listen on 127.0.0.1:{port}: address already in use"
    for audit in ["-", str(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"), "none"]:
        started = time.time()
        try:
            result = subprocess.run([binary, "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{port}", "--audit", audit],
                                    capture_output=True, text=True, timeout=15)
            ok = result.returncode == 1 and expected in result.stderr and time.time() - started < 5
            detail = result.stderr
        except subprocess.TimeoutExpired as error:
            ok, detail = False, f"still running after 15 s: {error.stderr}"
        check(f"taken port (--audit {audit if audit in '-none' else 'FILE'}): exit 1 at once, '{expected}'", ok, detail)
    try:
        result = subprocess.run([binary, "demo", "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=15)
        check("taken port (demo): exit 1 at once naming the address", result.returncode == 1 and expected in result.stderr, result.stderr)
    except subprocess.TimeoutExpired:
        check("taken port (demo): exit 1 at once naming the address", False, "still running after 15 s")
    blocker.close()


def torn_tail_and_unclean_stop(binary, work, policy, token):
    """4 and 7: a line cut short by a kill, and a kill between lines."""
    audit = work / "audit.jsonl"
    process, port = start(binary, policy, "--audit", str(audit))
    ask(port, token=token)
    stop(process)
    first = records(audit.read_text())
    check("clean stop: no unclean_shutdown in the first audit_start", "unclean_shutdown" not in first[0])

    process, port = start(binary, policy, "--audit", str(audit))
    ask(port, token=token)
    time.sleep(0.3)
    process.kill()
    process.wait()
    process, port = start(binary, policy, "--audit", str(audit))
    ask(port, token=token)
    stop(process)
    starts = [line for line in records(audit.read_text()) if line.get("event") == "audit_start"]
    check("after SIGKILL: the next audit_start says unclean_shutdown", starts[-1].get("unclean_shutdown") is True, json.dumps(starts[-1]))
    check("after SIGTERM: the start after it does not", "unclean_shutdown" not in starts[-2] or starts[-2] is starts[0])

    # A writer killed mid-line: cut the last record in half.
    data = audit.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    audit.write_bytes(data[: last_start + (len(data) - last_start) // 2])
    process, port = start(binary, policy, "--audit", str(audit))
    status, _, _ = ask(port, token=token)
    stop(process)
    lines = audit.read_text().splitlines()
    torn_index = next(i for i, line in enumerate(lines) if not line.endswith("}"))
    restart = json.loads(lines[torn_index + 1])
    check("torn tail: the line is ended and the next audit_start records torn_tail",
          restart.get("event") == "audit_start" and restart.get("torn_tail") is True, lines[torn_index + 1])
    verify = subprocess.run([binary, "audit", "verify", str(audit)], capture_output=True, text=True)
    check("torn tail: audit verify reports the torn line as torn, and the chain after it verifies",
          verify.returncode == 0 and f"audit.jsonl:{torn_index + 1}: torn line" in verify.stdout and "1 torn line" in verify.stdout,
          verify.stdout + verify.stderr)
    # A changed line is still tampering, torn or not around it.
    tampered = work / "tampered.jsonl"
    changed = lines[:]
    changed[1] = changed[1].replace('"allow"', '"deny"', 1) if '"allow"' in changed[1] else changed[1][:-3] + 'x"}'
    tampered.write_text("\n".join(changed) + "\n")
    verify = subprocess.run([binary, "audit", "verify", str(tampered)], capture_output=True, text=True)
    check("torn tail: a changed line elsewhere still fails verify", verify.returncode == 1 and "tampered.jsonl:2:" in verify.stderr,
          verify.stdout + verify.stderr)


def out_of_descriptors(binary, policy, token):
    """5: more connections than file descriptors."""
    process, port = start(binary, policy, "--audit", "none", limit_files=96)
    clients = []
    for _ in range(160):
        try:
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    time.sleep(0.5)
    before = cpu_seconds(process.pid)
    time.sleep(2)
    used = cpu_seconds(process.pid) - before
    check(f"out of descriptors: no spinning ({used:.2f} CPU s in 2 s)", used < 0.5)
    for client in clients:
        client.close()
    deadline = time.time() + 5
    status = 0
    while time.time() < deadline:
        try:
            status = ask(port, token=token, timeout=2)[0]
            break
        except OSError:
            time.sleep(0.2)
    check("out of descriptors: serves again once descriptors are free", status == 200)
    failures = metric(port, "mcp_authz_accept_failures_total")
    check("out of descriptors: counted in mcp_authz_accept_failures_total", failures is not None and failures > 0, str(failures))
    stop(process)
    log = process.stderr.read().decode()
    check("out of descriptors: logged once per episode",
          log.count("cannot accept connections") == 1 and "accepting connections again" in log, log[-2000:])


def jwks_faults(binary, work):
    """6: unknown kid while a fetch is in flight; an IdP that refuses connections."""
    tokens = mint(work, RESOURCE, {"reader": {"sub": "user-reader", "scope": "read:todos"}})
    jwks = json.loads((work / "jwks.json").read_text())
    # The IdP serves the token's key under another kid; its answers can be held back.
    hold = {"seconds": 0.0}
    idp = serve_documents({"/jwks": {"keys": [dict(jwks["keys"][0], kid="another-kid")]}}, delay=lambda: hold["seconds"])
    policy = work / "slow-idp.yaml"

    def keys_from(url):
        policy.write_text(one_server_policy(work, "{ path_prefix: /mcp }", RESOURCE, RULES).replace(
            f"jwks_file: {work / 'jwks.json'}", f"jwks_uri: {url}"))

    keys_from(f"http://127.0.0.1:{idp.server_address[1]}/jwks")
    process, port = start(binary, str(policy), "--audit", "none", "--jwks-fetch-timeout", "6",
                          "--jwks-min-refresh-interval", "60")
    deadline = time.time() + 10
    while time.time() < deadline and ask(port, "/readyz")[0] != 200:
        time.sleep(0.1)
    # The token's kid is not served: the first request asks for a refresh, which the IdP holds.
    hold["seconds"] = 4.0
    first = {}
    thread = threading.Thread(target=lambda: first.update(answer=ask(port, token=tokens["reader"], timeout=15)))
    thread.start()
    time.sleep(0.5)
    status, headers, waited = timed_ask(port, tokens["reader"])
    check(f"unknown kid, refresh rate limited, fetch in flight: refused at once ({waited:.2f} s)",
          status == 401 and headers.get("x-authz-reason") == "unknown_kid" and waited < 1.5, f"{status} {headers}")
    thread.join()
    check("unknown kid: the request that asked for the refresh waited for it", first.get("answer", (0,))[0] == 401)
    stop(process)

    keys_from(f"http://127.0.0.1:{free_port()}/jwks")  # nothing listens there
    process, port = start(binary, str(policy), "--audit", "none", "--jwks-fetch-timeout", "5")
    time.sleep(0.5)
    status, headers, waited = timed_ask(port, tokens["reader"])
    check(f"IdP refusing connections: the fetch fails at once ({waited:.2f} s, timeout 5 s)",
          status == 401 and headers.get("x-authz-reason") == "jwks_unavailable" and waited < 2, f"{status} {headers}")
    stop(process)
    idp.shutdown()


def main():
    binary = sys.argv[1]
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-faults-"))
    token = mint(work, RESOURCE, {"reader": {"sub": "user-reader", "scope": "read:todos"}})["reader"]
    policy = work / "policy.yaml"
    policy.write_text(one_server_policy(work, "{ path_prefix: /mcp }", RESOURCE, RULES))
    for durability in ("queued", "written"):
        stalled_stdout(binary, work, policy, token, durability)
    pipelining_without_reading(binary, policy, token)
    taken_port(binary, policy)
    torn_tail_and_unclean_stop(binary, work, policy, token)
    out_of_descriptors(binary, policy, token)
    jwks_faults(binary, pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-faults-jwks-")))
    finish("faults")


if __name__ == "__main__":
    main()
