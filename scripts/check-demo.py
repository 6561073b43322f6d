#!/usr/bin/env python3
"""Run `mcp-authz demo` as the README says and check that every curl line it prints gives the
answer its comment claims ("expect STATUS, "text""). Exits non-zero on the first difference.

Usage: check-demo.py MCP_AUTHZ_BINARY
"""
import re
import signal
import subprocess
import sys
import time


from checklib import free_port


def main():
    binary = sys.argv[1]
    port = free_port()
    demo = subprocess.Popen([binary, "demo", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.time() + 30
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Stop with Ctrl-C."):
                break
            if time.time() > deadline:
                sys.exit("demo did not print its instructions within 30 s")
        variables = [l for l in lines if re.match(r"^[A-Z]+='", l)]
        checks = []
        for i, line in enumerate(lines):
            m = re.search(r'expect (\d{3}), "(.*)"$', line)
            if line.startswith("#") and m:
                checks.append((line, lines[i + 1], int(m.group(1)), m.group(2).replace('\\"', '"')))
        if len(checks) < 8 or len(variables) != 3:
            sys.exit(f"demo printed {len(checks)} checks and {len(variables)} tokens; expected at least 8 and 3")
        failed = 0
        for comment, command, status, text in checks:
            script = "\n".join(variables + [command])
            out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=20).stdout
            got = re.match(r"HTTP/1\.1 (\d{3})", out)
            ok = got and int(got.group(1)) == status and text in out
            print(f"{'ok  ' if ok else 'FAIL'} {comment}")
            if not ok:
                failed += 1
                print(out, file=sys.stderr)
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=15)
        if code != 0:
            sys.exit(f"demo exited {code} on SIGINT")
        print(f"demo: {len(checks) - failed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    finally:
        if demo.poll() is None:
            demo.kill()


if __name__ == "__main__":
    main()
