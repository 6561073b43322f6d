#!/usr/bin/env python3
"""The AuthZEN Authorization API 1.0 endpoints, driven by a client written here from the
specification (urllib and jsonschema only): the specification's own examples against its JSON
Schemas (Tests/Vectors/authzen), the COAZ-MCP mapping onto the policy, the three evaluation
semantics, search pagination, metadata, X-Request-ID, and hostile requests (unknown fields,
oversized evaluations arrays, subject properties without the trust flag, a token for another
server, a subject that is not the token's). Every evaluation is audited as `endpoint: authzen`.

    python3 scripts/check-authzen.py .build/debug/mcp-authz
"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jsonschema

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, mint, wait_for_port  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "Tests/Vectors/authzen"
TODOS = "https://mcp.example.com/todos/mcp"
IMAGES = "https://mcp.example.com/images/mcp"


class PDP:
    """mcp-authz as an AuthZEN PDP on 127.0.0.1."""

    def __init__(self, binary, folder, *flags):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.audit = folder / f"audit-{self.port}.jsonl"
        self.process = subprocess.Popen(
            [binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{self.port}", "--audit", str(self.audit),
             "--watch-interval", "0", "--log-level", "error", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port):
            raise SystemExit("mcp-authz did not start")

    def call(self, path, body=None, method="POST", headers=None, raw=None):
        """Returns (status, headers, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, got, text = response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            status, got, text = error.code, error.headers, error.read().decode()
        try:
            return status, got, json.loads(text)
        except ValueError:
            return status, got, text

    def stop(self):
        self.process.terminate()
        self.process.wait(15)

    def records(self):
        time.sleep(0.3)
        return [json.loads(line) for line in self.audit.read_text().splitlines() if '"event":"decision"' in line]


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-authzen-"))
    request_schema = json.loads((VECTORS / "evaluation-request.schema.json").read_text())
    response_schema = json.loads((VECTORS / "evaluation-response.schema.json").read_text())
    examples = json.loads((VECTORS / "examples.json").read_text())
    tokens = mint(folder, TODOS, {
        "reader": {"sub": "alice", "scope": "read:todos"},
        "admin": {"sub": "root", "scope": "read:todos", "groups": ["admins"]},
        "images": {"sub": "alice", "aud": IMAGES},
    })
    (folder / "todos-tools.json").write_text(json.dumps({"tools": [
        {"name": name, "inputSchema": {"type": "object"}} for name in ["delete_todo", "export_todos", "get_todo", "list_todos"]]}))
    (folder / "policy.yaml").write_text(f"""version: 1
issuers:
  - id: idp
    issuer: https://idp.test.example/
    jwks_file: {folder / "jwks.json"}
servers:
  - id: todos
    match: {{ path_prefix: /todos/mcp }}
    resource: {TODOS}
    issuers: [idp]
    catalog: todos-tools.json
    rules:
      - name: basics
        allow: {{ methods: [initialize, ping, tools/list] }}
      - name: readers
        when: {{ scopes: [read:todos] }}
        allow: {{ tools: [list_todos, get_todo], prompts: [summarize], resources: ["todos://mine"] }}
      - name: exports of acme projects
        when: {{ scopes: [read:todos], arguments: {{ project: "acme-*" }} }}
        allow: {{ tools: [export_todos] }}
      - name: admins
        when: {{ groups: [admins] }}
        allow: {{ tools: [delete_todo] }}
  - id: images
    match: {{ path_prefix: /images/mcp }}
    resource: {IMAGES}
    issuers: [idp]
    rules:
      - name: basics
        allow: {{ methods: [tools/list] }}
""")
    reader, admin = tokens["reader"], tokens["admin"]

    def evaluation(tool, token=reader, subject="alice", **extra):
        return {"subject": {"type": "identity", "id": subject}, "action": {"name": "tools/call"},
                "resource": {"type": "tool", "id": tool}, "context": {"token": token}, **extra}

    pdp = PDP(binary, folder)
    try:
        # The specification's examples: each request example is valid by its schema, and each
        # answer mcp-authz gives satisfies the response schema (they name no MCP operation, so
        # they are denied: request_invalid).
        for example in examples["evaluation_requests"]:
            jsonschema.validate(example, request_schema)
            status, _, answer = pdp.call("/access/v1/evaluation", example)
            check(f"spec example {example['resource']['type']}/{example['resource']['id']}: 200, schema-valid, decision false",
                  status == 200 and answer.get("decision") is False and not list(
                      jsonschema.Draft202012Validator(response_schema).iter_errors(answer)), f"{status} {answer}")
        for example in examples["evaluation_responses"]:
            jsonschema.validate(example, response_schema)
        for example in examples["evaluations_requests"]:
            status, _, answer = pdp.call("/access/v1/evaluations", example)
            complete = all(all(key in entry or key in example for key in ["subject", "action", "resource"])
                           for entry in example["evaluations"])
            if not complete:
                # The options example gives no action at all: a required attribute omitted is a 400.
                check(f"spec evaluations example without an action: 400 ({len(example['evaluations'])} entries)", status == 400,
                      f"{status} {answer}")
                continue
            items = answer.get("evaluations", []) if isinstance(answer, dict) else []
            check(f"spec evaluations example ({len(example['evaluations'])} entries): every answer schema-valid",
                  status == 200 and items and all(jsonschema.Draft202012Validator(response_schema).is_valid(i) for i in items)
                  and len(items) <= len(example["evaluations"]), f"{status} {answer}")
        for example in examples["resource_search_requests"]:
            status, _, answer = pdp.call("/access/v1/search/resource", example)
            check(f"spec resource search example ({example['resource']['type']}): 400, a message string (not an MCP kind)",
                  status == 400 and isinstance(answer, str), f"{status} {answer}")
        for example in examples["action_search_requests"]:
            status, _, answer = pdp.call("/access/v1/search/action", example)
            check("spec action search example: 400 (not an MCP resource type)", status == 400, f"{status} {answer}")

        # The COAZ-MCP mapping onto the policy.
        status, headers, answer = pdp.call("/access/v1/evaluation", evaluation("get_todo"), headers={"X-Request-ID": "req-42"})
        check("evaluation: a reader may call get_todo (decision true, rule and decision id in context)",
              status == 200 and answer.get("decision") is True and answer["context"].get("rule") == "readers"
              and answer["context"].get("decision_id"), str(answer))
        check("X-Request-ID is echoed", headers.get("X-Request-ID") == "req-42", str(dict(headers)))
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("delete_todo"))
        check("evaluation: a reader may not call delete_todo: 200 decision false, reason no_matching_rule",
              answer.get("decision") is False and answer["context"].get("reason") == "no_matching_rule", str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("export_todos", resource={
            "type": "tool", "id": "export_todos", "properties": {"arguments": {"project": "acme-web"}}}))
        check("resource.properties.arguments feed argument conditions (acme-web allowed)", answer.get("decision") is True, str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("export_todos"))
        check("without arguments an argument condition fails closed", answer.get("decision") is False
              and answer["context"].get("reason") == "arguments_unavailable", str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "tools/list"},
                                                          "resource": {"type": "mcp_server", "id": TODOS}, "context": {"token": reader}})
        check("mcp_server resource: tools/list on the server named by its resource id", answer.get("decision") is True, str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "prompts/get"},
                                                          "resource": {"type": "prompt", "id": "summarize"}, "context": {"token": reader}})
        check("prompt resource: prompts/get", answer.get("decision") is True, str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "resources/read"},
                                                          "resource": {"type": "resource", "id": "todos://mine"}, "context": {"token": reader}})
        check("resource resource: resources/read by uri", answer.get("decision") is True, str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "tools/call"},
                                                          "resource": {"type": "prompt", "id": "get_todo"}, "context": {"token": reader}})
        check("an action that does not act on the resource type: decision false, request_invalid",
              answer.get("decision") is False and answer["context"].get("reason") == "request_invalid", str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("get_todo", subject="mallory"))
        check("subject.id other than the token's sub: decision false, subject_mismatch",
              answer.get("decision") is False and answer["context"].get("reason") == "subject_mismatch", str(answer))
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("get_todo", token=tokens["images"],
                                                                    resource={"type": "tool", "id": "get_todo", "properties": {"server": "todos"}}))
        check("a token for another server: decision false, audience_mismatch",
              answer.get("decision") is False and answer["context"].get("reason") == "audience_mismatch", str(answer))
        forged = reader[:-2] + ("AA" if not reader.endswith("AA") else "BB")
        _, _, answer = pdp.call("/access/v1/evaluation", evaluation("get_todo", token=forged))
        check("a forged token: decision false, signature_invalid, status 401 in context",
              answer.get("decision") is False and answer["context"].get("reason") == "signature_invalid"
              and answer["context"].get("status") == 401, str(answer))
        props = {"subject": {"type": "identity", "id": "alice", "properties": {"scope": "read:todos", "iss": "https://idp.test.example/"}},
                 "action": {"name": "tools/call"}, "resource": {"type": "tool", "id": "get_todo", "properties": {"server": "todos"}}}
        _, _, answer = pdp.call("/access/v1/evaluation", props)
        check("subject properties without --authzen-trust-subject-properties: decision false, token_missing",
              answer.get("decision") is False and answer["context"].get("reason") == "token_missing", str(answer))
        status, _, answer = pdp.call("/access/v1/evaluation", {**evaluation("get_todo"), "unknown": {"x": 1},
                                                               "subject": {"type": "identity", "id": "alice", "extra": True}})
        check("unknown fields are ignored, as the API requires", status == 200 and answer.get("decision") is True, f"{status} {answer}")
        for name, body in [("no subject", {"action": {"name": "tools/call"}, "resource": {"type": "tool", "id": "x"}}),
                           ("a subject without id", {**evaluation("get_todo"), "subject": {"type": "identity"}}),
                           ("action without name", {**evaluation("get_todo"), "action": {}})]:
            status, _, answer = pdp.call("/access/v1/evaluation", body)
            check(f"{name}: 400 with a message string", status == 400 and isinstance(answer, str) and answer, f"{status} {answer}")
        check("not JSON: 400", pdp.call("/access/v1/evaluation", raw=b"{nope")[0] == 400)
        check("GET on an evaluation endpoint: 405", pdp.call("/access/v1/evaluation", method="GET")[0] == 405)

        # Evaluations: defaults, the three semantics, the bound.
        batch = {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "tools/call"}, "context": {"token": reader},
                 "evaluations": [{"resource": {"type": "tool", "id": t}} for t in ["get_todo", "delete_todo", "list_todos"]]}
        _, _, answer = pdp.call("/access/v1/evaluations", batch)
        check("evaluations execute_all (default): [true, false, true]",
              [e.get("decision") for e in answer.get("evaluations", [])] == [True, False, True], str(answer))
        _, _, answer = pdp.call("/access/v1/evaluations", {**batch, "options": {"evaluations_semantic": "deny_on_first_deny"}})
        check("deny_on_first_deny: stops at the first deny [true, false]",
              [e.get("decision") for e in answer.get("evaluations", [])] == [True, False], str(answer))
        _, _, answer = pdp.call("/access/v1/evaluations", {**batch, "options": {"evaluations_semantic": "permit_on_first_permit"}})
        check("permit_on_first_permit: stops at the first permit [true]",
              [e.get("decision") for e in answer.get("evaluations", [])] == [True], str(answer))
        override = {**batch, "evaluations": [{"resource": {"type": "tool", "id": "delete_todo"}},
                                             {"resource": {"type": "tool", "id": "delete_todo"}, "context": {"token": admin},
                                              "subject": {"type": "identity", "id": "root"}}]}
        _, _, answer = pdp.call("/access/v1/evaluations", override)
        check("an entry's subject and context override the defaults: [false, true]",
              [e.get("decision") for e in answer.get("evaluations", [])] == [False, True], str(answer))
        status, _, answer = pdp.call("/access/v1/evaluations", {**batch, "options": {"evaluations_semantic": "sometimes"}})
        check("an unknown evaluations_semantic: 400", status == 400, f"{status} {answer}")
        status, _, answer = pdp.call("/access/v1/evaluations", {**batch, "evaluations": batch["evaluations"] * 34})
        check("102 evaluations (over the bound of 100): 400", status == 400 and "at most 100" in str(answer), f"{status} {answer}")
        _, _, answer = pdp.call("/access/v1/evaluations", evaluation("get_todo"))
        check("evaluations without an array: answered as one evaluation", answer.get("decision") is True, str(answer))

        # Searches.
        search = {"subject": {"type": "identity", "id": "alice"}, "action": {"name": "tools/call"}, "resource": {"type": "tool"},
                  "context": {"token": reader}}
        _, _, answer = pdp.call("/access/v1/search/resource", search)
        check("search/resource: the tools a reader may call (catalog and rules), page with an empty next_token",
              [r.get("id") for r in answer.get("results", [])] == ["export_todos", "get_todo", "list_todos"]
              and all(r.get("type") == "tool" for r in answer["results"]) and answer.get("page", {}).get("next_token") == ""
              and answer["page"].get("total") == 3, str(answer))
        pages, token, rounds = [], None, 0
        while rounds < 5:
            rounds += 1
            _, _, answer = pdp.call("/access/v1/search/resource", {**search, "page": {"limit": 2, **({"token": token} if token else {})}})
            pages.append([r["id"] for r in answer.get("results", [])])
            token = answer.get("page", {}).get("next_token")
            if not token:
                break
        check("search/resource paginated by 2: two pages, then an empty next_token", pages == [["export_todos", "get_todo"], ["list_todos"]],
              str(pages))
        _, _, first = pdp.call("/access/v1/search/resource", {**search, "page": {"limit": 2}})
        status, _, answer = pdp.call("/access/v1/search/resource", {**search, "action": {"name": "tools/call"}, "resource": {"type": "tool"},
                                                                   "subject": {"type": "identity", "id": "root"},
                                                                   "page": {"limit": 2, "token": first["page"]["next_token"]}})
        check("a page token used with a changed request: 400", status == 400, f"{status} {answer}")
        _, _, answer = pdp.call("/access/v1/search/action", {"subject": {"type": "identity", "id": "root"},
                                                             "resource": {"type": "tool", "id": "delete_todo"}, "context": {"token": admin}})
        check("search/action: an admin may tools/call delete_todo", answer.get("results") == [{"name": "tools/call"}], str(answer))
        _, _, answer = pdp.call("/access/v1/search/action", {"subject": {"type": "identity", "id": "alice"},
                                                             "resource": {"type": "mcp_server", "id": TODOS}, "context": {"token": reader}})
        check("search/action on the server: the methods basics allow",
              sorted(r["name"] for r in answer.get("results", [])) == ["initialize", "ping", "tools/list"], str(answer))
        status, _, answer = pdp.call("/.well-known/authzen-configuration", method="GET", headers={"X-Forwarded-Proto": "https",
                                                                                                 "X-Forwarded-Host": "pdp.example.com"})
        check("metadata: the PDP and its four endpoints, from the forwarded scheme and host",
              status == 200 and answer == {"policy_decision_point": "https://pdp.example.com",
                                           "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation",
                                           "access_evaluations_endpoint": "https://pdp.example.com/access/v1/evaluations",
                                           "search_resource_endpoint": "https://pdp.example.com/access/v1/search/resource",
                                           "search_action_endpoint": "https://pdp.example.com/access/v1/search/action"}, str(answer))
    finally:
        pdp.stop()
    records = pdp.records()
    check("every evaluation and search is audited as endpoint authzen, with the request id",
          records and all(r.get("endpoint") == "authzen" for r in records) and any(r.get("request_id") == "req-42" for r in records)
          and not any("subject_from" in r for r in records), str(records[:2]))
    check("no token in the audit", reader not in pdp.audit.read_text())

    trusting = PDP(binary, folder, "--authzen-trust-subject-properties")
    try:
        _, _, answer = trusting.call("/access/v1/evaluation", props)
        check("with --authzen-trust-subject-properties: subject properties decide (read:todos: get_todo allowed)",
              answer.get("decision") is True, str(answer))
        _, _, answer = trusting.call("/access/v1/evaluation", {**props, "resource": {"type": "tool", "id": "delete_todo",
                                                                                     "properties": {"server": "todos"}}})
        check("with it: and deny what the rules deny", answer.get("decision") is False, str(answer))
        _, _, answer = trusting.call("/access/v1/evaluation", {**props, "subject": {"type": "identity", "id": "alice", "properties": {
            "scope": "read:todos", "iss": "https://evil.example/"}}})
        check("with it: an iss the server does not accept is refused (issuer_untrusted)",
              answer.get("decision") is False and answer["context"].get("reason") == "issuer_untrusted", str(answer))
    finally:
        trusting.stop()
    records = trusting.records()
    check("each decision taken from subject properties says so in its audit record",
          len(records) == 2 and all(r.get("subject_from") == "authzen_subject_properties" for r in records), str(records))
    finish("authzen checks")


if __name__ == "__main__":
    main()
