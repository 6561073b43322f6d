#!/usr/bin/env python3
"""Check `mcp-authz serve` as a process, the way an operator runs it: configuration from the
environment, refusal to start on an invalid policy, reload on SIGHUP (file watch off), an
invalid reload keeping the policy in force, and a clean exit on SIGTERM.

Usage: check-serve.py MCP_AUTHZ_BINARY
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from checklib import check, finish, free_port, mint, one_server_policy


def policy(folder, allow_alpha):
    tools = "[get_todo, alpha]" if allow_alpha else "[get_todo]"
    return one_server_policy(folder, "{ path_prefix: /mcp }", "https://todos.test.example/mcp",
                             f"      - name: tools\n        allow: {{ tools: {tools} }}\n")


def ask(port, token, tool):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/auth", headers={
        "X-Original-Method": "POST", "X-Original-URI": "/mcp", "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": tool})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_healthy(port, process, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-serve-check-"))
    token = mint(folder, "https://todos.test.example/mcp", {"reader": {"sub": "u"}})["reader"]
    policy_file = folder / "policy.yaml"

    # An invalid policy: no start, every problem as file:line:column, exit 1.
    policy_file.write_text(policy(folder, False) + "      - name: tools\n        allow: { tool: [x] }\n")
    result = subprocess.run([binary, "serve", "--policies", str(policy_file), "--listen", f"127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=30)
    check("invalid policy: exit 1", result.returncode == 1, result.stderr)
    located = re.search(re.escape(str(policy_file)) + r":\d+:\d+: unknown key 'tool'", result.stderr)
    check("invalid policy: file:line:column on stderr", bool(located) and "not starting" in result.stderr, result.stderr)

    # Bad configuration values are named.
    result = subprocess.run([binary, "serve", "--policies", str(policy_file), "--listen", "nowhere"],
                            capture_output=True, text=True, timeout=30)
    check("bad --listen: refused with the value", result.returncode != 0 and "nowhere" in result.stderr, result.stderr)

    # Configured from the environment; reload on SIGHUP only (watch off).
    policy_file.write_text(policy(folder, False))
    port = free_port()
    env = dict(os.environ, MCP_AUTHZ_POLICIES=str(policy_file), MCP_AUTHZ_LISTEN=f"127.0.0.1:{port}",
               MCP_AUTHZ_WATCH_INTERVAL="0", MCP_AUTHZ_AUDIT=str(folder / "audit.jsonl"))
    started = time.time()
    server = subprocess.Popen([binary, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        check("serve from environment: healthy", wait_healthy(port, server))
        print(f"     start-up to first /healthz answer: {time.time() - started:.3f} s")
        check("before reload: alpha denied", ask(port, token, "alpha") == 403)
        check("before reload: get_todo allowed", ask(port, token, "get_todo") == 200)
        policy_file.write_text(policy(folder, True))
        time.sleep(0.3)
        check("edit without SIGHUP (watch off): alpha still denied", ask(port, token, "alpha") == 403)
        server.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and ask(port, token, "alpha") != 200:
            time.sleep(0.05)
        check("after SIGHUP: alpha allowed", ask(port, token, "alpha") == 200)
        policy_file.write_text("version: 1\nservers: [\n")
        server.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check("invalid reload: policy in force kept", ask(port, token, "alpha") == 200)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=15)
        log = server.stderr.read()
        check("SIGTERM: exit 0", code == 0, log)
        check("invalid reload logged with its location", f"{policy_file}:" in log and "policy reload rejected" in log, log)
        check("no token in the log", token not in log)
        events = [json.loads(line)["event"] for line in (folder / "audit.jsonl").read_text().splitlines()]
        check("audit file from the environment: loads, decisions, the rejected reload",
              events.count("decision") >= 6 and events.count("policy_load") == 3 and events[-1] == "audit_stop", str(events))
    finally:
        if server.poll() is None:
            server.kill()
    finish("serve")


if __name__ == "__main__":
    main()
