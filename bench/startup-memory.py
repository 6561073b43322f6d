#!/usr/bin/env python3
"""Start-up time and idle memory of the sidecar (release build), on demand; never a test.

Starts `mcp-authz demo` (the example policy with its throwaway issuer) and `mcp-authz serve`
on the shipped example policy set (policies/, with each issuer's keys read from a local file so
nothing leaves the machine) RUNS times each, and reports:
  - start-up: from exec to the first answer of /healthz (median, min, max);
  - demo ready: from exec to the printed instructions (keys fetched from itself);
  - idle RSS: VmRSS from /proc after 2 s idle, and after 1,000 forward-auth requests.

Usage: bench/startup-memory.py [BINARY] [RUNS]   (default .build/release/mcp-authz, 10)
"""
import json
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINARY = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".build/release/mcp-authz")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    return int(re.search(r"VmRSS:\s+(\d+) kB", pathlib.Path(f"/proc/{pid}/status").read_text()).group(1))


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
            return True
    except OSError:
        return False


def offline_example_policies(folder):
    """policies/*.yaml with every issuer's keys from a local JWKS file (no discovery)."""
    minted = json.loads(subprocess.run([sys.executable, str(ROOT / "scripts/mint-tokens.py")],
                                       input=json.dumps({"issuer": "x", "tokens": {}}), capture_output=True, text=True,
                                       check=True).stdout)
    (folder / "jwks.json").write_text(json.dumps(minted["jwks"]))
    for source in sorted((ROOT / "policies").glob("*.yaml")):
        if source.name.endswith("_test.yaml"):
            continue
        text = re.sub(r"^(\s*)jwks_uri: .*$", "", source.read_text(), flags=re.M)
        text = re.sub(r"^(\s*)(- id: .*)\n(\s*)issuer: (.*)$",
                      lambda m: f"{m.group(1)}{m.group(2)}\n{m.group(3)}issuer: {m.group(4)}\n{m.group(3)}jwks_file: {folder / 'jwks.json'}",
                      text, flags=re.M)
        (folder / source.name).write_text(text)
    return folder


def measure_serve(policies):
    starts, idle, loaded = [], [], []
    for _ in range(RUNS):
        port = free_port()
        began = time.perf_counter()
        process = subprocess.Popen([BINARY, "serve", "--policies", str(policies), "--listen", f"127.0.0.1:{port}",
                                    "--log-level", "error"], stdout=subprocess.DEVNULL)
        while not healthy(port):
            if process.poll() is not None:
                sys.exit("serve exited")
            time.sleep(0.002)
        starts.append(time.perf_counter() - began)
        time.sleep(2)
        idle.append(rss_kib(process.pid))
        request = urllib.request.Request(f"http://127.0.0.1:{port}/auth", headers={
            "X-Original-Method": "POST", "X-Original-URI": "/mcp", "X-Forwarded-Host": "todos.mcp.example.com",
            "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
        for _ in range(1000):
            try:
                urllib.request.urlopen(request, timeout=5).read()
            except urllib.error.HTTPError:
                pass
        loaded.append(rss_kib(process.pid))
        process.terminate()
        process.wait(timeout=10)
    return starts, idle, loaded


def measure_demo():
    ready, idle = [], []
    for _ in range(RUNS):
        port = free_port()
        began = time.perf_counter()
        process = subprocess.Popen([BINARY, "demo", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)
        for line in process.stdout:
            if line.startswith("mcp-authz demo is ready"):
                break
        ready.append(time.perf_counter() - began)
        time.sleep(2)
        idle.append(rss_kib(process.pid))
        process.terminate()
        process.wait(timeout=10)
    return ready, idle


def summary(values, unit, scale=1.0):
    values = [v * scale for v in values]
    return f"median {statistics.median(values):.1f} {unit} (min {min(values):.1f}, max {max(values):.1f})"


def main():
    with tempfile.TemporaryDirectory() as folder:
        policies = offline_example_policies(pathlib.Path(folder))
        starts, idle, loaded = measure_serve(policies)
    ready, demo_idle = measure_demo()
    print(f"binary: {BINARY}; {RUNS} runs each")
    print(f"serve policies/ (offline keys): start-up to /healthz {summary(starts, 'ms', 1000)}")
    print(f"serve policies/ (offline keys): idle RSS {summary(idle, 'MiB', 1 / 1024)}; after 1,000 requests {summary(loaded, 'MiB', 1 / 1024)}")
    print(f"demo: start-up to ready (keys fetched) {summary(ready, 'ms', 1000)}; idle RSS {summary(demo_idle, 'MiB', 1 / 1024)}")


if __name__ == "__main__":
    main()
