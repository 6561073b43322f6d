#!/usr/bin/env python3
"""Run deploy/nginx/mcp-authz.conf as shipped (ports moved to free ones) with real nginx, in
front of a stand-in upstream, against `mcp-authz serve`, and check what a client receives:
allow with identity headers at the upstream (client-sent X-Authz-* overwritten), 401 with
the challenge, 403 with its insufficient_scope challenge kept, and the metadata document.

Usage: check-nginx.py MCP_AUTHZ_BINARY
"""
import http.server
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

from checklib import check, failures, finish, free_port, mint, one_server_policy, wait_for_port

ROOT = pathlib.Path(__file__).resolve().parent.parent


class Upstream(http.server.BaseHTTPRequestHandler):
    """Answers 200 with the X-Authz-* headers it received."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        seen = {k: v for k, v in self.headers.items() if k.lower().startswith("x-authz-")}
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def request(port, path, headers=None, body=b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}'):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers={"Host": "todos.mcp.example.com",
                                                                                     **(headers or {})})
    if body is None:
        req.method = "GET"
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def main():
    binary = sys.argv[1]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-nginx-check-"))
    token = mint(work, "https://todos.mcp.example.com/mcp", {"reader": {"sub": "user-reader", "scope": "read:todos"}})["reader"]
    rules = """\
      - name: todo tools
        when: { scopes: [read:todos] }
        allow: { tools: [get_todo] }
      - name: billing
        when: { scopes: [read:billing] }
        allow: { tools: [get_billing] }
"""
    (work / "policy.yaml").write_text(one_server_policy(
        work, "{ host: todos.mcp.example.com, path_prefix: /mcp }", "https://todos.mcp.example.com/mcp", rules,
        extra="    scopes_supported: [read:todos, read:billing]\n"))
    authz_port, upstream_port, nginx_port = free_port(), free_port(), free_port()
    conf = (ROOT / "deploy/nginx/mcp-authz.conf").read_text()
    conf = conf.replace("127.0.0.1:9090", f"127.0.0.1:{authz_port}").replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{nginx_port};")
    (work / "mcp-authz.conf").write_text(conf)
    (work / "nginx.conf").write_text(f"""daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    include {work}/mcp-authz.conf;
}}
""")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", upstream_port), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    authz = subprocess.Popen([binary, "serve", "--policies", str(work / "policy.yaml"), "--listen", f"127.0.0.1:{authz_port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen([nginx, "-p", str(work), "-c", str(work / "nginx.conf")])
    try:
        wait_for_port(nginx_port)
        wait_for_port(authz_port)
        modern = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
        status, headers, body = request(nginx_port, "/mcp", {**modern, "Mcp-Name": "get_todo", "Authorization": f"Bearer {token}",
                                                             "X-Authz-Subject": "forged-by-client"})
        seen = json.loads(body) if status == 200 else {}
        check("allowed call reaches the upstream", status == 200, body)
        check("upstream sees the verified subject, not the client's", seen.get("X-Authz-Subject") == "user-reader", body)
        check("upstream sees the scopes", seen.get("X-Authz-Scopes") == "read:todos", body)

        status, headers, body = request(nginx_port, "/mcp", {**modern, "Mcp-Name": "get_todo"})
        challenge = headers.get("WWW-Authenticate", "")
        check("no token: 401", status == 401, body)
        check("401 carries resource_metadata", 'resource_metadata="https://todos.mcp.example.com/.well-known/oauth-protected-resource/mcp"'
              in challenge, challenge)

        status, headers, body = request(nginx_port, "/mcp", {**modern, "Mcp-Name": "get_billing", "Authorization": f"Bearer {token}"})
        challenge = headers.get("WWW-Authenticate", "")
        check("missing scope: 403", status == 403, body)
        check("403 keeps its insufficient_scope challenge", 'error="insufficient_scope", scope="read:billing"' in challenge, str(headers))

        status, headers, body = request(nginx_port, "/.well-known/oauth-protected-resource/mcp", body=None)
        check("metadata through nginx", status == 200 and json.loads(body).get("resource") == "https://todos.mcp.example.com/mcp", body)
    finally:
        proxy.terminate()
        authz.terminate()
        proxy.wait(timeout=10)
        authz.wait(timeout=10)
        upstream.shutdown()
        if failures:
            print((work / "error.log").read_text(), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    finish("nginx")


if __name__ == "__main__":
    main()
