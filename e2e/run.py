#!/usr/bin/env python3
"""End to end, as users run it: real MCP clients from the official Python SDK of both protocol
eras (`mcp` 2.x, protocol 2026-07-28, which sends Mcp-Method/Mcp-Name; `mcp` 1.x, older
protocols, which does not), through real nginx running the configurations shipped in
deploy/nginx (plain auth_request, and the njs variant that sends the body), against
`mcp-authz serve`, to two real MCP servers built with the SDK. Tokens come from a local issuer
(an RSA key made at start; discovery and JWKS served on 127.0.0.1; PyJWT signs).

Every case asserts what the client received. Usage: e2e/run.py MCP_AUTHZ_BINARY
"""
import base64
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "e2e"))
from checklib import check, finish, free_port, serve_documents, wait_for_port  # noqa: E402
from glewlwyd import Glewlwyd  # noqa: E402

VENVS = {"modern": ("mcp==2.3.0", ROOT / ".build/e2e/venv-mcp2"), "legacy": ("mcp==1.30.0", ROOT / ".build/e2e/venv-mcp1")}
E2E = ROOT / "e2e"


def venv_python(era):
    """The venv of an SDK era, made and filled on first use."""
    requirement, folder = VENVS[era]
    python = folder / "bin/python"
    if not python.exists() or subprocess.run([python, "-c", "import mcp"], capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", requirement], check=True)
    return python


class Issuer:
    """A small OIDC issuer: discovery and JWKS on 127.0.0.1, tokens signed with a key made now."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "e2e-1", "alg": "RS256", "use": "sig"})
        documents = {"/.well-known/openid-configuration": {"issuer": self.url, "jwks_uri": self.url + "/jwks.json"},
                     "/jwks.json": {"keys": [jwk]}}

        self.server = serve_documents(documents, self.port)

    def token(self, audience, exp_in=3600, **claims):
        now = int(time.time())
        return jwt.encode({"iss": self.url, "aud": audience, "iat": now, "exp": now + exp_in, **claims}, self.key,
                          algorithm="RS256", headers={"kid": "e2e-1"})


def policy(issuer_url, glewlwyd_url, billing_for_readers=False):
    billing = "        when: { any_scopes: [read:billing, read:todos] }" if billing_for_readers else \
        "        when: { scopes: [read:billing] }"
    return f"""version: 1
issuers:
  - id: local
    issuer: {issuer_url}
    groups_claim: groups
  - id: glewlwyd                 # a real OIDC server: keys found by discovery
    issuer: {glewlwyd_url}
    token_types: [at+jwt]        # RFC 9068 access tokens only
  - id: glewlwyd-introspected    # its second plugin: every token asked of its RFC 7662 endpoint
    issuer: {glewlwyd_url.rsplit("/", 1)[0]}/opaque
    introspection:
      url: {glewlwyd_url.rsplit("/", 1)[0]}/opaque/introspect
      client_id: mcp-agent       # glewlwyd lets a client introspect the tokens it was issued
      client_secret_file: glewlwyd-client.secret
servers:
  - id: todos
    match: {{ path_prefix: /todos/mcp }}
    resource: https://mcp.example.com/todos/mcp
    issuers: [local, glewlwyd, glewlwyd-introspected]
    scopes_supported: [read:todos, read:billing]
    allowed_origins: [https://app.example.com]   # browsers elsewhere are refused (DNS rebinding)
    catalog: todos-tools.json    # written by `mcp-authz catalog fetch` from the server at start
    pin_definitions: true
    rules:
      - name: protocol basics
        allow: {{ methods: [initialize, ping, server/discover, "notifications/*", tools/list, prompts/list, resources/list] }}
      - name: todo tools
        when: {{ scopes: [read:todos] }}
        allow: {{ tools: [list_todos, get_todo, delete_todo], prompts: [summarize_todos], resources: ["todos://mine"] }}
      - name: exports of our projects
        when: {{ scopes: [read:todos], arguments: {{ project: "acme-*" }} }}
        allow: {{ tools: [export_todos] }}
      - name: the audit trail for admins
        when: {{ groups: [mcp-admins] }}
        allow: {{ prompts: [audit_report], resources: ["todos://audit-log"] }}
      - name: billing
{billing}
        allow: {{ tools: [get_billing] }}
      - name: no deletes outside the admins group
        when: {{ not: {{ groups: [mcp-admins] }} }}
        deny: {{ tools: ["delete_*"] }}
  - id: images
    match: {{ path_prefix: /images/mcp }}
    resource: https://mcp.example.com/images/mcp
    issuers: [local]
    rules:
      - name: protocol basics
        allow: {{ methods: [initialize, ping, server/discover, "notifications/*", tools/list] }}
      - name: image generation for two people
        when: {{ emails: [alice@example.com, bob@example.com] }}
        allow: {{ tools: [generateImage, list_styles] }}
    limits:
      - name: style lookups
        applies_to: {{ tools: [list_styles] }}
        key: [email, tool]
        rate: 1/h
        burst: 2
"""


def nginx_config(work, ports):
    """The shipped deploy/nginx files laid out as docs/nginx-guide.md says (copied to
    <conf>/mcp-authz/, included as mcp-authz/...), with this run's ports; only the ports and
    listen addresses are changed. The njs configuration's MCP servers are the unfiltered ones
    (ports todos_raw, images_raw), so its own list filtering is what a client sees. Checked
    with `nginx -t` before the run."""
    replacements = {"127.0.0.1:9090": f"127.0.0.1:{ports['authz']}", "listen 8080;": f"listen 127.0.0.1:{ports['plain']};",
                    "listen 8081;": f"listen 127.0.0.1:{ports['body']};"}
    folder = work / "conf" / "mcp-authz"
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((ROOT / "deploy/nginx").iterdir()):
        raw = "_raw" if source.name == "mcp-authz-body.conf" else ""
        text = source.read_text()
        for old, new in {**replacements, "127.0.0.1:8001": f"127.0.0.1:{ports['todos' + raw]}",
                         "127.0.0.1:8002": f"127.0.0.1:{ports['images' + raw]}"}.items():
            text = text.replace(old, new)
        (folder / source.name).write_text(text)
    (work / "conf" / "nginx.conf").write_text(f"""load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{}}
http {{
    log_format decisions '$request_method $request_uri $status $authz_decision';
    access_log {work}/access.log decisions;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    include mcp-authz/mcp-authz.conf;
    include mcp-authz/mcp-authz-body.conf;
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run([nginx, "-t", "-p", str(work), "-c", str(work / "conf" / "nginx.conf")], capture_output=True, text=True)
    check("nginx -t accepts the guide's layout of deploy/nginx", checked.returncode == 0, checked.stderr)


class Stack:
    def __init__(self, binary):
        self.work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-e2e-"))
        self.ports = {name: free_port() for name in ["authz", "todos", "images", "todos_raw", "images_raw", "plain", "body", "caddy"]}
        self.issuer = Issuer()
        self.glewlwyd = Glewlwyd(self.work, free_port(), "https://mcp.example.com/todos/mcp")
        self.policy = self.work / "policy.yaml"
        self.audit = self.work / "audit.jsonl"
        self.processes = []
        # HTTP responses MCP clients got through Caddy, which keeps no decision log: each one
        # is one decision mcp-authz made.
        self.caddy_requests = 0
        server_python = venv_python("modern")
        # The servers behind plain nginx and Caddy filter tools/list themselves (the recipe);
        # those behind the njs configuration do not (images answers JSON, todos SSE).
        for name, port, flags in [("todos", "todos", []), ("images", "images", []), ("todos", "todos_raw", ["--unfiltered"]),
                                  ("images", "images_raw", ["--unfiltered", "--json"])]:
            self.start([server_python, str(E2E / "mcp_server.py"), name, str(self.ports[port]),
                        f"http://127.0.0.1:{self.ports['authz']}", *flags], port)
        # The todos catalog, as a policy owner makes it: fetched from the running server.
        if not wait_for_port(self.ports["todos_raw"], 30):
            raise SystemExit(f"the todos server did not start: see {self.work}")
        self.catalog = subprocess.run([binary, "catalog", "fetch", self.url("todos_raw", "todos"), "--output",
                                       str(self.work / "todos-tools.json")], capture_output=True, text=True)
        secret = self.work / "glewlwyd-client.secret"
        secret.write_text(Glewlwyd.client_secret + "\n")
        secret.chmod(0o600)
        self.policy.write_text(policy(self.issuer.url, self.glewlwyd.issuer))
        # Introspection answers kept for one second, so a revocation shows within the run.
        self.start([binary, "serve", "--policies", str(self.policy), "--listen", f"127.0.0.1:{self.ports['authz']}",
                    "--audit", str(self.audit), "--watch-interval", "0.2", "--log-level", "warning",
                    "--introspection-cache-ttl", "1"], "authz")
        nginx_config(self.work, self.ports)
        self.start([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(self.work), "-c", str(self.work / "conf" / "nginx.conf")],
                   "nginx")
        caddyfile = (ROOT / "deploy/caddy/Caddyfile").read_text().replace(":8082 {", f"http://:{self.ports['caddy']} {{")
        for old, new in [("127.0.0.1:9090", self.ports["authz"]), ("127.0.0.1:8001", self.ports["todos"]),
                         ("127.0.0.1:8002", self.ports["images"])]:
            caddyfile = caddyfile.replace(old, f"127.0.0.1:{new}")
        (self.work / "Caddyfile").write_text(caddyfile)
        self.start(["caddy", "run", "--adapter", "caddyfile", "--config", str(self.work / "Caddyfile")], "caddy")
        for port in self.ports.values():
            if not wait_for_port(port, 30):
                raise SystemExit(f"nothing listens on {port}: see {self.work}")

    def start(self, command, name):
        log = open(self.work / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))

    def stop(self):
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.issuer.server.shutdown()
        self.glewlwyd.stop()

    def url(self, config, server):
        return f"http://127.0.0.1:{self.ports[config]}/{server}/mcp"

    def client(self, era, config, server, token, *actions, headers=None):
        environment = {**os.environ, "E2E_EXTRA_HEADERS": json.dumps(headers or {})}
        out = subprocess.run([venv_python(era), str(E2E / "client.py"), self.url(config, server), token or "-", *actions],
                             capture_output=True, text=True, timeout=120, env=environment)
        try:
            outcome = json.loads(out.stdout)
        except ValueError:
            raise SystemExit(f"client printed no JSON:\n{out.stdout}\n{out.stderr}")
        if config == "caddy":
            self.caddy_requests += len(outcome["responses"])
        return outcome

    def raw(self, config, path, headers, body=None, method="POST"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports[config]}{path}", data=body, method=method,
                                         headers={"Host": "mcp.example.com", **headers})
        def fields(message):
            # A header sent twice shows as its values joined by " | ".
            return {name: " | ".join(message.get_all(name)) for name in set(message.keys())}
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, fields(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, fields(error.headers), error.read().decode()


def statuses(outcome):
    return [response["status"] for response in outcome["responses"]]


def challenge(outcome, status):
    """Every WWW-Authenticate the client received with `status`, joined."""
    return " | ".join(r["www_authenticate"] or "" for r in outcome["responses"] if r["status"] == status)


def refused(outcome, status):
    """The client got `status` and no tool result came back."""
    results = outcome["results"]
    return status in statuses(outcome) and not any(r.get("ok") for r in results if r["action"].startswith("call:"))


def main():
    binary = sys.argv[1]
    stack = Stack(binary)
    issuer = stack.issuer
    todos, images = "https://mcp.example.com/todos/mcp", "https://mcp.example.com/images/mcp"
    reader = issuer.token(todos, sub="user-reader", scope="read:todos")
    admin = issuer.token(todos, sub="user-admin", scope="read:todos", groups=["mcp-admins"])
    expired = issuer.token(todos, exp_in=-3600, sub="user-reader", scope="read:todos")
    alice = issuer.token(images, sub="user-alice", email="alice@example.com", email_verified=True)
    mallory = issuer.token(images, sub="user-mallory", email="mallory@example.com", email_verified=True)
    try:
        # The servers behind the njs configuration list everything: what a client sees through
        # it is nginx's own filtering.
        direct = stack.client("modern", "todos_raw", "todos", reader, "list", "prompts", "resources")
        check("the njs configuration's servers do not filter: a direct client lists every tool, prompt and resource",
              [r.get(k) for r, k in zip(direct["results"], ["tools", "prompts", "resources"])] ==
              [["delete_todo", "export_todos", "get_billing", "get_todo", "list_todos"], ["audit_report", "summarize_todos"],
               ["todos://audit-log", "todos://mine"]], json.dumps(direct))
        catalog = json.loads((stack.work / "todos-tools.json").read_text() or "{}") if stack.catalog.returncode == 0 else {}
        project = [tool for tool in catalog.get("tools", []) if tool.get("name") == "export_todos"]
        check("mcp-authz catalog fetch wrote the real server's tools/list, x-mcp-header included",
              sorted(tool["name"] for tool in catalog.get("tools", [])) == ["delete_todo", "export_todos", "get_billing", "get_todo",
                                                                             "list_todos"]
              and project and project[0]["inputSchema"]["properties"]["project"].get("x-mcp-header") == "Project",
              stack.catalog.stderr + json.dumps(project))
        # Each era through the configuration that serves it: 2.x through plain auth_request
        # (headers), 1.x through the njs body variant; 2.x through njs as well.
        for era, config in [("modern", "plain"), ("modern", "body"), ("legacy", "body"), ("modern", "caddy")]:
            label = f"{era} SDK via {'Caddy forward_auth' if config == 'caddy' else config + ' nginx'}"
            # The client also sends its own X-Authz-Subject: nginx must replace it.
            outcome = stack.client(era, config, "todos", reader, "list", "call:get_todo", headers={"X-Authz-Subject": "forged"})
            results = {r["action"]: r for r in outcome["results"]}
            check(f"{label}: session opens, tools listed", outcome["connected"] and results.get("list", {}).get("ok"),
                  json.dumps(outcome))
            # tools/list filtered through /v1/filter, by the server (deploy/mcp-server) or by
            # nginx (njs): a caller with read:todos outside the admins lists only what it may call.
            check(f"{label}: tools/list shows a read:todos caller only the tools it may call",
                  results.get("list", {}).get("tools") == ["export_todos", "get_todo", "list_todos"], json.dumps(results.get("list")))
            # An argument rule: `project` decided from the body (njs, SDK 1.x) or, behind plain
            # auth_request and Caddy, from the Mcp-Param-Project header SDK 2.x mirrors it into
            # (x-mcp-header, in the catalog). The client lists first, as it must to know that.
            exports = stack.client(era, config, "todos", reader, "list", 'call:export_todos:{"project": "acme-web"}')
            check(f"{label}: an argument the rule allows (project acme-web) runs the tool",
                  (exports["results"] or [{}])[-1].get("text") == "export_todos of acme-web for user-reader", json.dumps(exports))
            foreign = stack.client(era, config, "todos", reader, "list", 'call:export_todos:{"project": "evil-corp"}')
            check(f"{label}: an argument the rule does not allow (project evil-corp) is refused with 403",
                  refused(foreign, 403), json.dumps(foreign))
            check(f"{label}: allowed tool runs; the upstream is told the verified subject, not the client's own",
                  results.get("call:get_todo", {}).get("text") == "get_todo for user-reader", json.dumps(outcome))
            # A refused call ends a 1.x session (the SDK raises on the 403): one session each.
            denied = stack.client(era, config, "todos", reader, "call:delete_todo")
            check(f"{label}: denied tool (deny rule) is refused with 403", refused(denied, 403), json.dumps(denied))
            shown = json.dumps(denied["results"]) + str(denied["error"])
            if era == "modern" and config != "caddy":
                # SDK 2.x shows its user the JSON-RPC error of the denial body: code, reason, decision id.
                check(f"{label}: the SDK reports the denial's JSON-RPC error (-31403, reason, decision id)",
                      "MCPError(-31403, 'Forbidden by mcp-authz: denied_by_rule (decision " in shown, shown)
            elif era == "legacy":
                # SDK 1.x does not read an error body: the 403 ends its session (HTTPStatusError).
                check(f"{label}: SDK 1.x ends the session on the 403 (it does not read the body)",
                      not denied["connected"] and "HTTPStatusError" in shown and "403" in shown, shown)
            scoped = stack.client(era, config, "todos", reader, "call:get_billing")
            check(f"{label}: missing scope: 403 with insufficient_scope, scope=\"read:billing\"",
                  refused(scoped, 403) and 'error="insufficient_scope", scope="read:billing"' in challenge(scoped, 403),
                  json.dumps(scoped))

            listed = stack.client(era, config, "todos", admin, "list")
            check(f"{label}: an admin lists delete_todo too", (listed["results"] or [{}])[0].get("tools") ==
                  ["delete_todo", "export_todos", "get_todo", "list_todos"], json.dumps(listed))
            if config == "body":
                # njs filters prompts/list and resources/list too (SSE answers from todos).
                for token, who, prompts, resources in [
                    (reader, "a read:todos caller", ["summarize_todos"], ["todos://mine"]),
                    (admin, "an admin", ["audit_report", "summarize_todos"], ["todos://audit-log", "todos://mine"]),
                ]:
                    both = stack.client(era, config, "todos", token, "prompts", "resources")
                    check(f"{label}: prompts/list and resources/list show {who} only what it may get and read",
                          [r.get(k) for r, k in zip(both["results"], ["prompts", "resources"])] == [prompts, resources],
                          json.dumps(both))
                # images answers JSON, not SSE: filtered as well.
                for token, who, tools in [(alice, "alice", ["generateImage", "list_styles"]), (mallory, "mallory", [])]:
                    listed = stack.client(era, config, "images", token, "list")
                    check(f"{label}: a JSON tools/list answer is filtered too: {who} lists {tools}",
                          (listed["results"] or [{}])[0].get("tools") == tools, json.dumps(listed))
            admin_outcome = stack.client(era, config, "todos", admin, "call:delete_todo")
            check(f"{label}: the admins group may delete", admin_outcome["results"][0].get("text") == "delete_todo for user-admin",
                  json.dumps(admin_outcome))

            anonymous = stack.client(era, config, "todos", None, "list")
            metadata = re.search(r'resource_metadata="([^"]+)"', challenge(anonymous, 401))
            check(f"{label}: no token: 401 with resource_metadata", not anonymous["connected"] and bool(metadata),
                  json.dumps(anonymous))
            if metadata:
                path = "/" + metadata.group(1).split("/", 3)[3]
                status, _, body = stack.raw(config, path, {}, method="GET")
                document = json.loads(body) if status == 200 else {}
                check(f"{label}: that metadata URL, fetched through the proxy, is the RFC 9728 document",
                      document.get("resource") == todos and document.get("authorization_servers") == [issuer.url, stack.glewlwyd.issuer, stack.glewlwyd.opaque_issuer], body)

            old = stack.client(era, config, "todos", expired, "list")
            check(f"{label}: expired token: 401 invalid_token",
                  not old["connected"] and 'error="invalid_token"' in challenge(old, 401), json.dumps(old))

            allowed = stack.client(era, config, "images", alice, "call:generateImage")
            stranger = stack.client(era, config, "images", mallory, "call:generateImage")
            check(f"{label}: email allowlist: alice generates images",
                  allowed["results"] and allowed["results"][0].get("text") == "generateImage for user-alice", json.dumps(allowed))
            check(f"{label}: email allowlist: mallory is refused with 403", refused(stranger, 403), json.dumps(stranger))

        # A real OIDC server's RFC 9068 token (client_credentials, resource indicator), keys by
        # discovery: accepted for the server it names, refused where its audience does not fit.
        machine = stack.glewlwyd.token(resource="https://mcp.example.com/todos/mcp")
        for era, config in [("modern", "plain"), ("legacy", "body")]:
            outcome = stack.client(era, config, "todos", machine, "call:get_todo")
            check(f"glewlwyd at+jwt token, {era} SDK via {config} nginx: allowed, subject is the client",
                  outcome["results"] and outcome["results"][0].get("text") == "get_todo for mcp-agent", json.dumps(outcome))
        unbound = stack.glewlwyd.token()
        outcome = stack.client("modern", "plain", "todos", unbound, "list")
        check("glewlwyd token without a resource (aud is the scope list): 401 invalid_token",
              not outcome["connected"] and 'error="invalid_token"' in challenge(outcome, 401), json.dumps(outcome))
        header = json.loads(base64.urlsafe_b64decode(machine.split(".")[0] + "=="))
        check("glewlwyd's tokens really are at+jwt", header.get("typ") == "at+jwt", str(header))
        introspection_checks(stack)
        dpop_checks(stack, issuer, todos)

        # An older client through plain auth_request: the body never reaches mcp-authz and
        # the client sends no Mcp-* headers, so it is refused (fail closed), never guessed.
        legacy_plain = stack.client("legacy", "plain", "todos", reader, "call:get_todo")
        check("legacy SDK via plain nginx: refused with 403 (operation cannot be verified)",
              not legacy_plain["connected"] and 403 in statuses(legacy_plain), json.dumps(legacy_plain))

        # Denials answer a JSON-RPC error body naming the reason and the decision id, with the
        # challenge kept (plain: id null, the body never reaches the check; njs: the request's id).
        call = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "delete_todo", "arguments": {}}})
        base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"}
        for config, want_id in [("plain", None), ("body", 7)]:
            for token, tool, status_wanted, code, reason in [
                (reader, "delete_todo", 403, -31403, "denied_by_rule"), (reader, "get_billing", 403, -31403, "no_matching_rule"),
                (None, "delete_todo", 401, -31401, "token_missing"),
            ]:
                sent = {**base, "Mcp-Name": tool, **({"Authorization": f"Bearer {token}"} if token else {})}
                status, got, body = stack.raw(config, "/todos/mcp", sent, call.replace("delete_todo", tool).encode())
                got = {k.lower(): v for k, v in got.items()}
                try:
                    error = json.loads(body)
                except ValueError:
                    error = {}
                ok = (status == status_wanted and got.get("content-type", "").startswith("application/json")
                      and error.get("jsonrpc") == "2.0" and error.get("id") == want_id
                      and error.get("error", {}).get("code") == code and error["error"]["data"]["reason"] == reason
                      and error["error"]["data"]["decision_id"] == got.get("x-authz-decision-id") != ""
                      and reason in error["error"]["message"] and got.get("x-authz-reason") == reason)
                if reason == "no_matching_rule":
                    ok = ok and 'error="insufficient_scope", scope="read:billing"' in got.get("www-authenticate", "")
                if status_wanted == 401:
                    # Exactly one challenge: nginx's own copy on a 401 is not doubled.
                    ok = ok and got.get("www-authenticate", "").startswith("Bearer ") and " | " not in got["www-authenticate"]
                check(f"{config} nginx: {status_wanted} {reason} answers a JSON-RPC error (code {code}, id {want_id}) with reason, "
                      "decision id and challenge", ok, f"{status} {got} {body}")

        limit_checks(stack, issuer, images, alice)

        # Origin (MCP 2026-07-28, DNS rebinding): nginx passes the browser's Origin on to /auth.
        for config in ["plain", "body"]:
            sent = {**base, "Mcp-Name": "get_todo", "Authorization": f"Bearer {reader}"}
            evil, got, _ = stack.raw(config, "/todos/mcp", {**sent, "Origin": "http://rebound.example"}, call.replace("delete_todo", "get_todo").encode())
            check(f"{config} nginx: a browser Origin the server does not list is refused 403 origin_not_allowed",
                  evil == 403 and {k.lower(): v for k, v in got.items()}.get("x-authz-reason") == "origin_not_allowed", f"{evil} {got}")
            listed, got, body = stack.raw(config, "/todos/mcp", {**sent, "Origin": "https://app.example.com"},
                                          call.replace("delete_todo", "get_todo").encode())
            # Past mcp-authz the SDK server applies its own Origin check (it knows no allowed origin).
            check(f"{config} nginx: the listed Origin passes mcp-authz (no X-Authz-Reason; the answer is the server's)",
                  "x-authz-reason" not in {k.lower() for k in got}, f"{listed} {got} {body[:200]}")

        # A client whose Mcp-Param-Project says one project and whose body says another: the
        # njs configuration has mcp-authz compare them; behind plain auth_request the header
        # decides and the SDK 2.x server refuses the mismatch (HeaderMismatch, -32020).
        export = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                             "params": {"name": "export_todos", "arguments": {"project": "evil-corp"}}})
        lying = {"Authorization": f"Bearer {reader}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "export_todos",
                 "Mcp-Param-Project": "acme-web"}
        status, got, body = stack.raw("body", "/todos/mcp", lying, export.encode())
        try:
            error = json.loads(body).get("error", {})
        except ValueError:
            error = {}
        check("Mcp-Param-Project disagreeing with the body via njs nginx: 400 header_mismatch with MCP's HeaderMismatch (-32020)",
              status == 400 and {k.lower(): v for k, v in got.items()}.get("x-authz-reason") == "header_mismatch"
              and error.get("code") == -32020, f"{status} {got} {body}")
        status, _, body = stack.raw("plain", "/todos/mcp", lying, export.encode())
        check("Mcp-Param-Project disagreeing with the body via plain nginx: the server refuses, export_todos never runs",
              status != 200 and "export_todos of" not in body, f"{status} {body}")

        # A client that lies: Mcp-Name says one tool, the body calls another.
        lie = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_todo", "arguments": {}}})
        headers = {"Authorization": f"Bearer {reader}", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream", "Mcp-Method": "tools/call", "Mcp-Name": "get_todo"}
        status, _, _ = stack.raw("body", "/todos/mcp", headers, lie.encode())
        check("lying Mcp-Name via njs nginx: 400 HeaderMismatch (mcp-authz compares header and body)", status == 400, str(status))
        status, _, body = stack.raw("plain", "/todos/mcp", {**headers, "MCP-Protocol-Version": "2026-07-28"}, lie.encode())
        check("lying Mcp-Name via plain nginx with 2026-07-28: the SDK server rejects the mismatch, delete_todo never runs",
              status != 200 and "delete_todo for" not in body, f"{status} {body}")

        # A policy edit while a client works: no failed call, and the edit takes effect.
        results, stop = [], threading.Event()

        def steady(era, config):
            while not stop.is_set():
                outcome = stack.client(era, config, "todos", reader, *["call:get_todo"] * 5)
                results.append(outcome["results"] if outcome["connected"] else [{"ok": False, "error": outcome["error"]}])

        workers = [threading.Thread(target=steady, args=args) for args in [("modern", "plain"), ("legacy", "body")]]
        for worker in workers:
            worker.start()
        time.sleep(2)
        before = stack.client("modern", "plain", "todos", reader, "call:get_billing")["results"][0]
        stack.policy.write_text(policy(issuer.url, stack.glewlwyd.issuer, billing_for_readers=True))
        deadline, after = time.time() + 20, {}
        while time.time() < deadline:
            after = stack.client("modern", "plain", "todos", reader, "call:get_billing")["results"][0]
            if after.get("ok"):
                break
        time.sleep(2)
        stop.set()
        for worker in workers:
            worker.join()
        failed = [r for batch in results for r in batch if not r.get("ok")]
        check("policy edited on disk: takes effect without a restart", not before.get("ok") and after.get("ok"), json.dumps(after))
        calls = sum(len(batch) for batch in results)
        check(f"policy edited on disk: none of {calls} calls in {len(results)} concurrent sessions (both eras) failed",
              calls >= 10 and not failed, json.dumps(failed[:3]))
    finally:
        stack.stop()

    # The audit log holds one record per decision nginx asked for, matched by decision id (the
    # MCP servers' own /v1/filter questions for tools/list are recorded apart, as "filter").
    logged = [line.split() for line in (stack.work / "access.log").read_text().splitlines()]
    asked = [fields[3] for fields in logged if re.match(r"/(todos|images)/mcp", fields[1]) and fields[3] != "-"]
    records = [json.loads(line) for line in stack.audit.read_text().splitlines()]
    decided = [r["decision_id"] for r in records if r.get("event") == "decision" and r.get("endpoint") == "auth"]
    filtered = [r for r in records if r.get("event") == "decision" and r.get("endpoint") == "filter"]
    check(f"audit: the servers' tools/list filter questions are recorded ({len(filtered)})", len(filtered) >= 8)
    check(f"audit: one record per decision ({len(asked)} asked through nginx, {stack.caddy_requests} through Caddy, "
          f"{len(decided)} recorded)",
          len(decided) == len(set(decided)) and set(asked) <= set(decided) and len(asked) + stack.caddy_requests == len(decided),
          f"asked-not-recorded {len(set(asked) - set(decided))}, recorded-not-asked {len(set(decided) - set(asked))}")
    exports = [r for r in records if r.get("event") == "decision" and r.get("mcp_name") == "export_todos" and r.get("status") != 401]
    # The deciding rule's argument paths: an allow by the argument rule names `project`; a
    # default deny has no deciding rule, and names none.
    allowed = [r for r in exports if r.get("decision") == "allow"]
    check(f"audit: the {len(allowed)} allowed export_todos decisions name the argument path they used",
          len(allowed) >= 4 and all(r.get("arguments") == ["project"] for r in allowed)
          and all("arguments" not in r for r in exports if r.get("reason") == "no_matching_rule"), json.dumps(exports[:2]))
    verify = subprocess.run([binary, "audit", "verify", str(stack.audit)], capture_output=True, text=True)
    check("audit: the chain verifies", verify.returncode == 0, verify.stderr)
    replay_checks(binary, stack, records)
    shutil.rmtree(stack.work, ignore_errors=True)
    finish("e2e")


def introspection_checks(stack):
    """A token of glewlwyd's second plugin, whose issuer the policy introspects: allowed through
    both nginx configurations on the endpoint's word, then refused once glewlwyd revokes it
    (after the one-second cache bound the sidecar runs with)."""
    token = stack.glewlwyd.token(resource="https://mcp.example.com/todos/mcp", issuer=stack.glewlwyd.opaque_issuer)
    for era, config in [("modern", "plain"), ("legacy", "body")]:
        outcome = stack.client(era, config, "todos", token, "call:get_todo")
        # glewlwyd's introspection answer for a client_credentials token names the client, not a subject.
        check(f"introspected glewlwyd token, {era} SDK via {config} nginx: allowed",
              outcome["results"] and outcome["results"][0].get("ok") and outcome["results"][0].get("text", "").startswith("get_todo for"),
              json.dumps(outcome))
    status, _, _ = stack.raw("plain", "/todos/mcp", {"Authorization": "Bearer not-a-token-glewlwyd-issued", "Mcp-Method": "ping",
                                                      "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                             body=b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    check("a token glewlwyd never issued, introspected: 401", status == 401, str(status))
    check("glewlwyd revokes the token", stack.glewlwyd.revoke(token) == 200)
    time.sleep(1.3)
    revoked = stack.client("modern", "plain", "todos", token, "call:get_todo")
    check("the revoked token, once the cache bound has passed: 401 invalid_token",
          not revoked["connected"] and 'error="invalid_token"' in challenge(revoked, 401), json.dumps(revoked))
    records = [json.loads(line) for line in stack.audit.read_text().splitlines()]
    agent = [r for r in records if r.get("event") == "decision" and r.get("client_id") == "mcp-agent"]
    check("audit: the introspected decisions name the issuer and the client from the endpoint's answer",
          any(r.get("decision") == "allow" and r.get("issuer") == stack.glewlwyd.opaque_issuer and r.get("scopes") == ["read:todos"]
              for r in agent), json.dumps(agent[-3:]))
    reasons = {r.get("reason") for r in records if r.get("event") == "decision"}
    check("audit: the revoked token and the unknown one were refused as token_inactive", "token_inactive" in reasons, str(reasons))


def dpop_checks(stack, issuer, todos):
    """A DPoP-bound token (cnf.jkt) of the local issuer with proofs made here by PyJWT, through
    both nginx configurations: nginx passes the DPoP header and X-Forwarded-Proto, so a proof
    for this request passes once, and a replay, a Bearer use or a proof for https are refused
    with the DPoP challenge."""
    import hashlib
    import uuid
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ["crv", "kty", "x", "y"]}, separators=(",", ":"), sort_keys=True)
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    token = issuer.token(todos, sub="user-dpop", scope="read:todos", cnf={"jkt": b64(hashlib.sha256(canonical.encode()).digest())})
    def proof(url="http://mcp.example.com/todos/mcp"):
        claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": url, "iat": int(time.time()),
                  "ath": b64(hashlib.sha256(token.encode()).digest())}
        return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    discover = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
    def ask(config, authorization, dpop):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover", "Authorization": authorization}
        if dpop:
            headers["DPoP"] = dpop
        status, got, body = stack.raw(config, "/todos/mcp", headers, discover)
        return status, {k.lower(): v for k, v in got.items()}, body
    for config in ["plain", "body"]:
        first = proof()
        status, _, body = ask(config, f"DPoP {token}", first)
        check(f"DPoP via {config} nginx: a bound token with its proof for this request reaches the server (server/discover)",
              status == 200 and '"capabilities"' in body, f"{status} {body[:300]}")
        for name, authorization, dpop, reason in [("the same proof again", f"DPoP {token}", first, "dpop_proof_replayed"),
                                                  ("the bound token as Bearer", f"Bearer {token}", proof(), "dpop_proof_missing"),
                                                  ("a proof for https", f"DPoP {token}", proof("https://mcp.example.com/todos/mcp"),
                                                   "dpop_url_mismatch")]:
            status, got, body = ask(config, authorization, dpop)
            check(f"DPoP via {config} nginx: {name}: 401 {reason} with the DPoP challenge",
                  status == 401 and got.get("x-authz-reason") == reason
                  and got.get("www-authenticate", "").startswith('DPoP error="invalid_dpop_proof"'), f"{status} {got} {body[:300]}")


def limit_checks(stack, issuer, images, alice):
    """A limit (list_styles: two an hour per caller) through the shipped nginx configurations:
    auth_request cannot pass 429, so mcp-authz answers 403 rate_limited and nginx (plain:
    error_page; njs: mcp-authz.js) answers 429 with Retry-After and a JSON-RPC error body; an
    SDK client sees its third call fail with 429."""
    outcome = stack.client("modern", "plain", "images", alice, *["call:list_styles"] * 3)
    oks = [r.get("ok", False) for r in outcome["results"]]
    third = json.dumps(outcome["results"][2:3])
    check("limit via plain nginx: the SDK 2.x client's first two list_styles calls pass, the third gets 429 and shows "
          "the JSON-RPC error (-31429, the limit's name)",
          oks == [True, True, False] and 429 in statuses(outcome) and "-31429" in third and "style lookups" in third,
          json.dumps(outcome)[:800])
    bob = issuer.token(images, sub="user-bob", email="bob@example.com", email_verified=True)
    legacy = stack.client("legacy", "body", "images", bob, *["call:list_styles"] * 3)
    # SDK 1.x raises on an HTTP error status rather than reading the JSON-RPC error: the
    # session ends there, and its last answer is the 429.
    posts = [r["status"] for r in legacy["responses"] if r["method"] == "POST"]
    check("limit via the njs configuration: the 1.x SDK client's third list_styles call is answered 429",
          posts[-1:] == [429] and posts.count(429) == 1 and "429" in legacy.get("error", ""), json.dumps(legacy)[:800])
    call = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "list_styles", "arguments": {}}})
    for config, token, want_id in [("plain", alice, None), ("body", bob, 9)]:
        sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call", "Mcp-Name": "list_styles", "Authorization": f"Bearer {token}"}
        status, got, body = stack.raw(config, "/images/mcp", sent, call.encode())
        got = {k.lower(): v for k, v in got.items()}
        try:
            error = json.loads(body)
        except ValueError:
            error = {}
        data = error.get("error", {}).get("data", {})
        retry = got.get("retry-after", "")
        check(f"limit via {config} nginx: 429 with Retry-After, X-Authz-Limit and a JSON-RPC error (code -31429, id {want_id})",
              status == 429 and retry.isdigit() and 1 <= int(retry) <= 3600 and got.get("x-authz-limit") == "style lookups"
              and got.get("x-authz-reason") == "rate_limited" and error.get("id") == want_id
              and error.get("error", {}).get("code") == -31429 and data.get("limit") == "style lookups"
              and data.get("retry_after") == int(retry) and data.get("reason") == "rate_limited"
              and data.get("decision_id") == got.get("x-authz-decision-id"), f"{status} {got} {body}")


def replay_checks(binary, stack, records):
    """`mcp-authz replay` over the audit log this run's traffic wrote, against the policy as it
    was before the edit and as it was after: what flips is what the edit changed (get_billing
    for callers with read:todos and not read:billing), counted here from the records alone."""
    before, after = stack.work / "policy-before.yaml", stack.work / "policy-after.yaml"
    before.write_text(policy(stack.issuer.url, stack.glewlwyd.issuer))
    after.write_text(policy(stack.issuer.url, stack.glewlwyd.issuer, billing_for_readers=True))
    policy_reasons = {"allowed", "denied_by_rule", "no_matching_rule", "issuer_untrusted", "arguments_unavailable"}
    decided = [r for r in records if r.get("event") == "decision" and r.get("reason") in policy_reasons
               and r.get("issuer") and r.get("server")]
    billing = [r for r in decided if r.get("mcp_name") == "get_billing" and "batch_size" not in r
               and "read:todos" in r["scopes"] and "read:billing" not in r["scopes"]]
    granted = [r["decision_id"] for r in billing if r["decision"] == "allow"]
    refused = [r["decision_id"] for r in billing if r["decision"] == "deny"]
    # export_todos is decided on its `project` argument, which this policy does not audit.
    exports = [r["decision_id"] for r in decided if r.get("mcp_name") == "export_todos" and "read:todos" in r["scopes"]]

    def replay(candidate, *extra):
        run = subprocess.run([binary, "replay", "--policies", str(candidate), "--json", *extra, str(stack.audit)],
                             capture_output=True, text=True)
        return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else {}), run.stderr

    code, report, err = replay(before)
    flips = report.get("flips", [])
    check(f"replay against the policy before the edit: the {len(granted)} get_billing allows of the edited policy flip "
          f"to deny, nothing else flips, exit 1",
          code == 1 and len(granted) >= 1 and report.get("allow_to_deny") == len(granted) and report.get("deny_to_allow") == 0
          and all(f["operation"] == "tools/call tool 'get_billing'" and f["rule_before"] == "billing"
                  and f["reason_after"] == "no_matching_rule" for f in flips)
          and set(granted) >= {i for f in flips for i in f["decision_ids"]}, f"{code} {json.dumps(report)[:600]} {err}")
    undecidable = report.get("undecidable_reasons", [])
    check(f"replay: the {len(exports)} export_todos decisions taken on an unaudited argument are undecidable, not guessed",
          len(exports) >= 1 and report.get("undecidable") == len(exports)
          and all("arguments" in u["why"] for u in undecidable) and set(exports) >= {i for u in undecidable for i in u["decision_ids"]},
          json.dumps(undecidable))
    check("replay: refusals before the policy (bad tokens, lying requests) are passed over, not replayed",
          report.get("not_decided_by_policy", 0) >= 1 and report.get("records") == report.get("same", 0) + len(granted)
          + len(exports) + report.get("not_decided_by_policy", 0), json.dumps(report)[:400])
    code, report, err = replay(after)
    check(f"replay against the edited policy: the {len(refused)} earlier get_billing denials flip to allow",
          code == 1 and len(refused) >= 1 and report.get("deny_to_allow") == len(refused) and report.get("allow_to_deny") == 0,
          f"{code} {json.dumps(report)[:600]} {err}")
    code, _, err = replay(after, "--fail-on", "allow-to-deny")
    check("replay --fail-on allow-to-deny: exit 0 when only denials flip", code == 0, err)
    code, _, err = replay(stack.work / "no-such-policy.yaml")
    check("replay with a policy that cannot be read: exit 2", code == 2, err)


if __name__ == "__main__":
    main()
