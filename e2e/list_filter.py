#!/usr/bin/env python3
"""The njs configuration's list filtering (deploy/nginx/mcp-authz.js) against answers no SDK
server gives on purpose: real nginx with the shipped files (the guide's layout), `mcp-authz
serve`, and a stub MCP server that answers each request as its X-Stub header says (the header
reaches the stub because nginx passes the client's headers on). What the client receives is
checked: only permitted entries, everything else of the answer kept, and nothing unfiltered
when the answer cannot be read.

Usage: e2e/list_filter.py MCP_AUTHZ_BINARY
"""
import http.client
import http.server
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "e2e"))
from checklib import check, finish, free_port, wait_for_port  # noqa: E402
from run import Issuer, nginx_config  # noqa: E402

RESOURCE = "https://mcp.example.com/todos/mcp"
TOOLS = [{"name": name, "inputSchema": {"type": "object"}} for name in ["get_todo", "delete_todo", "list_todos", "secret_tool"]]


def policy(local, cf):
    return f"""version: 1
issuers:
  - id: local
    issuer: {local}
  - id: cf
    issuer: {cf}
    token_header: Cf-Access-Jwt-Assertion
servers:
  - id: todos
    match: {{ path_prefix: /todos/mcp }}
    resource: {RESOURCE}
    issuers: [local, cf]
    rules:
      - name: protocol basics
        allow: {{ methods: [initialize, tools/list, prompts/list, resources/list] }}
      - name: readers
        when: {{ scopes: [read:todos] }}
        allow: {{ tools: [get_todo, list_todos], prompts: [summarize], resources: ["todos://mine"] }}
"""


def event_stream(*messages, newline="\r\n", split=False, end=True):
    """An SSE stream: a comment, then each message as an event with an id; `split` spreads
    each message's JSON over two data lines; without `end` the last event is never finished."""
    out = [": stub" + newline]
    for number, message in enumerate(messages):
        text = json.dumps(message, indent=1 if split else None)
        data = newline.join("data: " + line for line in text.split("\n")) if split else "data: " + text
        out.append(f"event: message{newline}id: e{number}{newline}{data}{newline}{newline}")
    stream = "".join(out)
    return stream if end else stream[: -len(newline)]


def answer(case, request):
    """(status, content type, body) the stub answers for a case."""
    single = request if isinstance(request, dict) else {}
    result = {"tools": TOOLS, "nextCursor": "page-2"}
    response = {"jsonrpc": "2.0", "id": single.get("id"), "result": result}
    progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1,
                                                                                "message": "secret_tool is being listed"}}
    if case == "json":
        return 200, "application/json", json.dumps(response)
    if case == "sse":
        return 200, "text/event-stream", event_stream(progress, response)
    if case == "sse-lf-split":
        return 200, "text/event-stream", event_stream(progress, response, newline="\n", split=True)
    if case == "sse-unfinished":
        return 200, "text/event-stream", event_stream(progress, response, end=False)
    if case == "string-id":
        return 200, "application/json", json.dumps({**response, "id": str(single.get("id"))})
    if case == "nameless":
        return 200, "application/json", json.dumps({**response, "result": {"tools": [{"inputSchema": {}}, "get_todo", TOOLS[0]]}})
    if case == "batch":
        answers = []
        for message in request:
            kind = message["method"].split("/")[0]
            entries = {"tools": TOOLS, "prompts": [{"name": "summarize"}, {"name": "admin_report"}],
                       "resources": [{"uri": "todos://mine", "name": "mine"}, {"uri": "todos://all", "name": "all"}]}[kind]
            answers.append({"jsonrpc": "2.0", "id": message["id"], "result": {kind: entries}})
        return 200, "application/json", json.dumps(answers)
    if case == "rpc-error":
        return 200, "application/json", json.dumps({"jsonrpc": "2.0", "id": single.get("id"), "error": {"code": -32603, "message": "x"}})
    if case == "not-found":
        return 404, "text/plain", "no such session"
    if case == "text":
        return 200, "text/plain", json.dumps(response)
    if case == "bad-json":
        return 200, "application/json", json.dumps(response)[:-5]
    if case == "big":
        many = [{"name": f"tool_{n}", "description": "x" * 200} for n in range(6000)]
        return 200, "application/json", json.dumps({**response, "result": {"tools": many}})
    raise ValueError(case)


class Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        Stub.seen.append({"subject": self.headers.get("X-Authz-Subject"), "encoding": self.headers.get("Accept-Encoding")})
        status, content_type, text = answer(self.headers.get("X-Stub", "json"), body)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Mcp-Session-Id", "stub-session")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:
            pass    # nginx stops reading an answer too big to filter

    def log_message(self, *args):
        pass


def post(port, case, body, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("POST", "/todos/mcp", body=json.dumps(body), headers={
            "Host": "mcp.example.com", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "X-Stub": case, "X-Authz-Subject": "forged", **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    except (http.client.HTTPException, OSError) as error:
        return None, {}, repr(error)
    finally:
        connection.close()


def sse_messages(text):
    """The messages of the complete events of an SSE stream, as a client reads them."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n")[:-1]:
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            messages.append(json.loads("\n".join(data)))
    return messages


def names(messages, kind="tools", field="name"):
    return [entry.get(field) if isinstance(entry, dict) else entry
            for message in messages if "result" in message for entry in message["result"].get(kind, [])]


def main():
    binary = sys.argv[1]
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-list-filter-"))
    ports = {name: free_port() for name in ["authz", "todos", "images", "plain", "body"]}
    ports.update(todos_raw=ports["todos"], images_raw=ports["images"])
    local, cf = Issuer(), Issuer()
    (work / "policy.yaml").write_text(policy(local.url, cf.url))
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", ports["todos"]), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    nginx_config(work, ports)
    body_conf = work / "conf/mcp-authz/mcp-authz-body.conf"
    # The documented line for an issuer's token_header, switched on as a user would.
    body_conf.write_text(body_conf.read_text().replace("# set $mcp_authz_token_header", "set $mcp_authz_token_header"))
    # A second nginx whose /v1/filter location points at a closed port.
    filterless = work / "filterless"
    ports["filterless"] = free_port()
    nginx_config(filterless, {**ports, "body": ports["filterless"], "plain": free_port()})
    filter_conf = filterless / "conf/mcp-authz/mcp-authz-body.conf"
    filter_conf.write_text(filter_conf.read_text().replace("proxy_pass http://mcp_authz_body/v1/filter;",
                                                           f"proxy_pass http://127.0.0.1:{free_port()}/v1/filter;"))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    processes = [
        subprocess.Popen([binary, "serve", "--policies", str(work / "policy.yaml"), "--listen", f"127.0.0.1:{ports['authz']}",
                          "--audit", str(work / "audit.jsonl"), "--log-level", "warning"], stdout=subprocess.DEVNULL),
        subprocess.Popen([nginx, "-p", str(work), "-c", str(work / "conf/nginx.conf")]),
        subprocess.Popen([nginx, "-p", str(filterless), "-c", str(filterless / "conf/nginx.conf")]),
    ]
    try:
        for port in [ports["authz"], ports["body"], ports["filterless"]]:
            if not wait_for_port(port, 30):
                raise SystemExit(f"nothing listens on {port}: see {work}")
        reader = {"Authorization": "Bearer " + local.token(RESOURCE, sub="reader", scope="read:todos")}
        listing = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
        permitted = ["get_todo", "list_todos"]

        for case, read in [("json", lambda text: [json.loads(text)]), ("sse", sse_messages), ("sse-lf-split", sse_messages)]:
            status, headers, text = post(ports["body"], case, listing, reader)
            messages = read(text) if status == 200 else []
            response = [m for m in messages if m.get("id") == 7]
            check(f"{case}: only the permitted tools, the rest of the answer kept (cursor, session, other events)",
                  status == 200 and names(response) == permitted and response[0]["result"].get("nextCursor") == "page-2"
                  and headers.get("mcp-session-id") == "stub-session" and len(messages) == (1 if case == "json" else 2),
                  f"{status} {headers} {text[:600]}")
        check("the MCP server is told the verified subject (not the client's own) and asked for an uncompressed answer",
              Stub.seen and all(seen == {"subject": "reader", "encoding": None} for seen in Stub.seen), json.dumps(Stub.seen[-3:]))

        status, _, text = post(ports["body"], "sse-unfinished", listing, reader)
        check("an SSE answer cut off inside the list event: that event is dropped, never passed on unfiltered",
              status == 200 and "secret_tool\"" not in text.replace("secret_tool is", "") and not [m for m in sse_messages(text)
                                                                                                 if m.get("id") == 7], text[:600])
        status, _, text = post(ports["body"], "string-id", listing, reader)
        check("an answer whose id is the request's as a string is filtered all the same",
              status == 200 and names([json.loads(text)]) == permitted, text[:400])
        status, _, text = post(ports["body"], "nameless", listing, reader)
        check("entries without a name are dropped", status == 200 and names([json.loads(text)]) == ["get_todo"], text[:400])

        batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": "two", "method": "prompts/list"},
                 {"jsonrpc": "2.0", "id": 3, "method": "resources/list"}]
        status, _, text = post(ports["body"], "batch", batch, reader)
        answers = json.loads(text) if status == 200 else []
        check("a batch of tools/list, prompts/list and resources/list: each list filtered",
              [names(answers, "tools"), names(answers, "prompts"), names(answers, "resources", "uri")] ==
              [permitted, ["summarize"], ["todos://mine"]], f"{status} {text[:600]}")

        status, _, text = post(ports["body"], "rpc-error", listing, reader)
        check("a JSON-RPC error answer is passed on unchanged", status == 200 and json.loads(text)["error"]["code"] == -32603, text)
        status, _, text = post(ports["body"], "not-found", listing, reader)
        check("an HTTP error of the server is passed on (404 and its body)", status == 404 and text == "no such session", text)
        for case in ["text", "bad-json"]:
            status, _, text = post(ports["body"], case, listing, reader)
            check(f"{case}: an answer that cannot be read is refused with 502, no tool named",
                  status == 502 and "secret_tool" not in text and "get_todo" not in text, f"{status} {text[:300]}")
        status, _, text = post(ports["body"], "big", listing, reader)
        check("an answer over subrequest_output_buffer_size: the connection closes, nothing of the list passed on",
              status is None and "tool_" not in text, f"{status} {text[:300]}")

        cf_caller = {"Cf-Access-Jwt-Assertion": cf.token(RESOURCE, sub="cf-reader", scope="read:todos")}
        status, _, text = post(ports["body"], "json", listing, cf_caller)
        check("a token in the issuer's token_header ($mcp_authz_token_header) filters as a Bearer token does",
              status == 200 and names([json.loads(text)]) == permitted, f"{status} {text[:400]}")
        nobody = {"Authorization": "Bearer " + local.token(RESOURCE, sub="nobody")}
        status, _, text = post(ports["body"], "sse", listing, nobody)
        check("a caller allowed to list but to call nothing lists nothing", status == 200 and names(sse_messages(text)) == [], text)
        status, _, text = post(ports["body"], "json", listing, {})
        check("no token: 401, nothing listed", status == 401 and "get_todo" not in text, f"{status} {text}")

        # /v1/filter unreachable while /auth answers (a second nginx whose filter location points
        # at a closed port): the list is answered empty.
        status, _, text = post(ports["filterless"], "sse", listing, reader)
        check("/v1/filter unreachable: the list is answered empty, the rest of the answer kept",
              status == 200 and names(sse_messages(text)) == [] and len(sse_messages(text)) == 2, f"{status} {text[:400]}")
        check("nginx's error log says the filter question failed", "/v1/filter failed" in (filterless / "error.log").read_text())
        error_log = (work / "error.log").read_text()
        check("nginx's error log says why an answer was refused", "neither JSON nor an event stream" in error_log
              and "too big subrequest response" in error_log, error_log[-2000:])
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        stub.shutdown()
        local.server.shutdown()
        cf.server.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    finish("njs list filtering")


if __name__ == "__main__":
    main()
