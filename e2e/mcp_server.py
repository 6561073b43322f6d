"""An MCP server for the end-to-end tests, built with the official Python SDK (Streamable HTTP).

Usage: mcp_server.py NAME PORT AUTHZ_URL [--unfiltered] [--json]
  NAME todos: tools list_todos, get_todo, delete_todo, get_billing, and export_todos(project),
      whose project argument is mirrored into the Mcp-Param-Project header (x-mcp-header);
      prompts summarize_todos, audit_report; resources todos://mine, todos://audit-log; at /todos/mcp
  NAME images: tools generateImage, list_styles, at /images/mcp
Each tool answers with its own name and the X-Authz-Subject the proxy passed, so a test can see
both that the call reached the server and who mcp-authz said the caller was. tools/list is
filtered through mcp-authz's /v1/filter by the shipped recipe (deploy/mcp-server), unless
--unfiltered: then the server lists everything, and only the proxy (the njs configuration) can
filter. --json answers each POST with one JSON body instead of an SSE stream.
"""
import pathlib
import sys
from typing import Annotated

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "deploy/mcp-server"))
from mcp.server.mcpserver.server import Context  # noqa: E402
from mcp.server.transport_security import TransportSecuritySettings  # noqa: E402
from mcp_authz_filter import AuthzFilteredServer  # noqa: E402
from pydantic import Field  # noqa: E402

from mcp.server.mcpserver import MCPServer  # noqa: E402

NAME, PORT, AUTHZ_URL = sys.argv[1], int(sys.argv[2]), sys.argv[3]
UNFILTERED, JSON_RESPONSE = "--unfiltered" in sys.argv[4:], "--json" in sys.argv[4:]
server = MCPServer(NAME) if UNFILTERED else AuthzFilteredServer(NAME, authz_url=AUTHZ_URL, server_id=NAME)


def caller(ctx: Context) -> str:
    request = getattr(ctx.request_context, "request", None)
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-authz-subject", "?")


def tool(name):
    def answer(ctx: Context) -> str:
        return f"{name} for {caller(ctx)}"
    answer.__name__ = name
    server.tool(name=name, description=f"The {name} tool.")(answer)


for tool_name in {"todos": ["list_todos", "get_todo", "delete_todo", "get_billing"],
                  "images": ["generateImage", "list_styles"]}[NAME]:
    tool(tool_name)

if NAME == "todos":
    @server.tool(name="export_todos", description="Export a project's todos.")
    def export_todos(project: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Project"})], ctx: Context) -> str:
        return f"export_todos of {project} for {caller(ctx)}"

    for prompt_name in ["summarize_todos", "audit_report"]:
        server.prompt(name=prompt_name, description=f"The {prompt_name} prompt.")(lambda: "a prompt")
    for uri in ["todos://mine", "todos://audit-log"]:
        server.resource(uri, name=uri.split("//")[1])(lambda: "a resource")

if __name__ == "__main__":
    # Behind nginx the server sees the public host (nginx sets Host $host).
    security = TransportSecuritySettings(allowed_hosts=["mcp.example.com", "mcp.example.com:*", "127.0.0.1", "127.0.0.1:*"])
    server.run("streamable-http", host="127.0.0.1", port=PORT, streamable_http_path=f"/{NAME}/mcp", transport_security=security,
               json_response=JSON_RESPONSE)
