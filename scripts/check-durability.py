#!/usr/bin/env python3
"""`--audit-durability` at the process level: the sidecar is SIGKILLed under load, again and
again, and every answer a client received (its decision id, from the answer's header or the
decision API's body) must have its record in the audit file: in `written` mode (group commit:
an answer goes only after its block reached the kernel) and in `synced`. The same load in
`queued` mode, where a kill loses the records of the last few milliseconds' answers, must lose
some: that shows the check can see a loss (how many depends on timing, and is printed).

Then the killed log goes on: a restart records the unclean shutdown, and `audit verify` accepts
the whole file.

    python3 scripts/check-durability.py .build/debug/mcp-authz [--runs N]
"""
import argparse
import http.client
import json
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, mint, one_server_policy, wait_for_port  # noqa: E402

RESOURCE = "https://mcp.example.com/todos/mcp"


def auth_headers(token, tool):
    """/auth as nginx asks it for a 2026-07-28 tools/call of `tool`."""
    return {"X-Original-Method": "POST", "X-Original-URI": "/todos/mcp", "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call", "Mcp-Name": tool, "Authorization": f"Bearer {token}"}


class Load:
    """Client threads on keep-alive connections, each keeping the decision id of every answer it
    received, until the sidecar dies."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.received = []
        self.lock = threading.Lock()
        self.threads = []

    def ask(self, connection, kind):
        """One question of `kind`; returns the decision id of its answer."""
        if kind in ("allow", "deny"):
            # Headers only: answered on the event loop's fast path.
            connection.request("GET", "/auth", headers=auth_headers(self.token, "get_todo" if kind == "allow" else "get_billing"))
            response = connection.getresponse()
            decision = response.getheader("X-Authz-Decision-Id")
            response.read()
        elif kind == "body":
            # A body to read: answered through Hummingbird.
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_todo"}})
            connection.request("GET", "/auth", body=body, headers={**auth_headers(self.token, "get_todo"), "Content-Type": "application/json"})
            response = connection.getresponse()
            decision = response.getheader("X-Authz-Decision-Id")
            response.read()
        else:
            body = json.dumps({"server": "todos", "token": self.token, "method": "tools/call", "name": "get_todo"})
            connection.request("POST", "/v1/decide", body=body, headers={"Content-Type": "application/json"})
            decision = json.loads(connection.getresponse().read()).get("decision_id")
        return decision

    def client(self, kind):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            while True:
                decision = self.ask(connection, kind)
                if decision:
                    with self.lock:
                        self.received.append(decision)
        except (OSError, http.client.HTTPException, ValueError):
            return  # the sidecar was killed

    def start(self):
        kinds = ["allow"] * 10 + ["deny"] * 2 + ["body"] * 2 + ["decide"] * 2
        self.threads = [threading.Thread(target=self.client, args=(kind,), daemon=True) for kind in kinds]
        for thread in self.threads:
            thread.start()

    def join(self):
        for thread in self.threads:
            thread.join(15)
        with self.lock:
            return list(self.received)


def recorded(log):
    ids = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by the kill
        if record.get("event", "decision") == "decision" and "decision_id" in record:
            ids.add(record["decision_id"])
    return ids


def killed_run(binary, folder, token, mode, run):
    """Starts the sidecar in `mode`, loads it, SIGKILLs it at a random moment; returns the ids
    answered and the ids recorded."""
    log = folder / f"audit-{mode}-{run}.jsonl"
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{port}",
                                "--audit", str(log), "--audit-durability", mode, "--watch-interval", "0", "--log-level", "error"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port):
            raise SystemExit(f"mcp-authz ({mode}) did not start")
        load = Load(port, token)
        load.start()
        time.sleep(random.uniform(0.4, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        answered = load.join()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log, answered, recorded(log)


def quiet_allows(binary, folder, token):
    """Allows that wait for their write and are sent log nothing at info: the denial an allow
    would be turned into if its record were not written is made only then (it was once made, and
    logged, for every allow)."""
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{port}",
                                "--audit", str(folder / "audit-quiet.jsonl"), "--watch-interval", "0", "--log-level", "info"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not wait_for_port(port):
            raise SystemExit("mcp-authz did not start")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses = []
        for _ in range(20):
            connection.request("GET", "/auth", headers=auth_headers(token, "get_todo"))
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=15)[1]
    decisions = [line for line in log.splitlines() if "decision" in line and "authz.decision_id" in line]
    check("written: 20 allows answered, and no decision logged at info for them (no denial made in vain)",
          statuses == [200] * 20 and not decisions, f"{statuses}\n" + "\n".join(decisions[:3]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=8, help="kills in written mode (synced and queued: half as many)")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-durability-"))
    tokens = mint(folder, RESOURCE, {"reader": {"sub": "alice", "scope": "read:todos"}})
    (folder / "policy.yaml").write_text(one_server_policy(folder, "{ path_prefix: /todos/mcp }", RESOURCE, """      - name: readers
        when: { scopes: [read:todos] }
        allow: { tools: [get_todo] }
"""))
    quiet_allows(args.binary, folder, tokens["reader"])
    last_log = None
    for mode, runs in (("written", args.runs), ("synced", max(1, args.runs // 2))):
        missing, answered_total, shortest = [], 0, None
        for run in range(runs):
            log, answered, ids = killed_run(args.binary, folder, tokens["reader"], mode, run)
            missing += [decision for decision in answered if decision not in ids]
            answered_total += len(answered)
            shortest = len(answered) if shortest is None else min(shortest, len(answered))
            last_log = log if mode == "written" else last_log
        check(f"{mode}: killed {runs} times under load, every one of {answered_total:,} answers received has its record "
              f"(fewest answers in a run: {shortest})", not missing and shortest > 50,
              f"answered without a record: {missing[:10]} ({len(missing)} in all)")

    lost = []
    for run in range(max(1, args.runs // 2)):
        _, answered, ids = killed_run(args.binary, folder, tokens["reader"], "queued", run)
        lost.append(sum(1 for decision in answered if decision not in ids))
    # The contrast shows the check above can fail: queued answers go before their block is written.
    check(f"queued (contrast): the same kills lose answered records ({lost} per kill), which the check above would catch",
          any(lost), str(lost))

    # The killed log goes on and still verifies.
    port = free_port()
    process = subprocess.Popen([args.binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{port}",
                                "--audit", str(last_log), "--audit-durability", "written", "--watch-interval", "0",
                                "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check("a sidecar restarted on the killed log starts", wait_for_port(port))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    records = [json.loads(line) for line in last_log.read_text().splitlines() if line.startswith("{") and line.endswith("}")]
    restart = [r for r in records if r.get("event") == "audit_start"][-1]
    check("the restart records the unclean shutdown", restart.get("unclean_shutdown") is True, json.dumps(restart))
    verified = subprocess.run([args.binary, "audit", "verify", str(last_log)], capture_output=True, text=True)
    check("audit verify accepts the killed and continued log", verified.returncode == 0, verified.stdout + verified.stderr)
    finish("durability checks")


if __name__ == "__main__":
    main()
