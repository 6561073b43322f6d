#!/usr/bin/env python3
"""Resident memory of `mcp-authz serve` while a limit keyed by client_ip sees a million
distinct addresses (X-Real-IP), with the default --max-limit-keys (100,000) and with 1,000,000:
the limits' state must stop growing at its bound (least recently used keys dropped, counted in
mcp_authz_limit_keys_dropped_total). On demand, not in CI:

    swift build -c release --product mcp-authz
    python3 bench/limit-memory.py .build/release/mcp-authz
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "scripts"))
from checklib import free_port, mint, one_server_policy, wait_for_port  # noqa: E402

AUDIENCE = "https://mcp.test.example/mcp"
RULES = """      - name: readers
        when: { scopes: [read] }
        allow: { tools: [get_todo] }
"""
LIMITS = """    limits:
      - name: per address
        key: [client_ip]
        rate: 10/s
"""
DISTINCT = 1_000_000


def rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dropped(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    found = re.search(r"^mcp_authz_limit_keys_dropped_total (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def script(path, token, offset):
    """A wrk script: every request from a new address (10.x.y.z from a counter)."""
    path.write_text(f"""local n = {offset}
request = function()
  n = n + 1
  local a, b, c = math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256
  wrk.headers["X-Real-IP"] = "10." .. a .. "." .. b .. "." .. c
  return wrk.format("GET", "/auth")
end
wrk.headers["X-Original-Method"] = "POST"
wrk.headers["X-Original-URI"] = "/mcp"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "get_todo"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  io.write("REQUESTS " .. summary.requests .. "\\n")
end
""")


def run(binary, work, token, max_keys):
    port = free_port()
    args = [binary, "serve", "--policies", str(work / "policy.yaml"), "--listen", f"127.0.0.1:{port}", "--audit", "none",
            "--log-level", "error"] + (["--max-limit-keys", str(max_keys)] if max_keys else [])
    process = subprocess.Popen(args)
    try:
        wait_for_port(port)
        time.sleep(0.5)
        print(f"\n--max-limit-keys {max_keys or 'default (100000)'}")
        print("| distinct addresses | RSS MiB | keys dropped |")
        print("| ---: | ---: | ---: |")
        print(f"| 0 | {rss_mib(process.pid):.1f} | 0 |")
        sent = 0
        while sent < DISTINCT:
            script(work / "addresses.lua", token, sent)
            # One wrk thread, so each address is used once.
            out = subprocess.run(["wrk", "-t1", "-c8", "-d10s", "-s", str(work / "addresses.lua"), f"http://127.0.0.1:{port}"],
                                 capture_output=True, text=True).stdout
            sent += int(re.search(r"REQUESTS (\d+)", out).group(1))
            print(f"| {sent:,} | {rss_mib(process.pid):.1f} | {dropped(port):,} |", flush=True)
    finally:
        process.terminate()
        process.wait(timeout=15)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/mcp-authz"
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-limit-memory-"))
    token = mint(work, AUDIENCE, {"reader": {"sub": "reader", "scope": "read"}})["reader"]
    (work / "policy.yaml").write_text(one_server_policy(work, "{ path_prefix: /mcp }", AUDIENCE, RULES, LIMITS))
    try:
        run(binary, work, token, None)
        run(binary, work, token, 1_000_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
