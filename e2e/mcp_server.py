"""An MCP server for the end-to-end tests, built with the official Python SDK (Streamable HTTP).

Usage: mcp_server.py NAME PORT
  NAME todos: list_todos, get_todo, delete_todo, get_billing, at /todos/mcp
  NAME images: generateImage, list_styles, at /images/mcp
Each tool answers with its own name and the X-Authz-Subject the proxy passed, so a test can see
both that the call reached the server and who mcp-authz said the caller was.
"""
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.server import Context
from mcp.server.transport_security import TransportSecuritySettings

NAME, PORT = sys.argv[1], int(sys.argv[2])
server = MCPServer(NAME)


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

if __name__ == "__main__":
    # Behind nginx the server sees the public host (nginx sets Host $host).
    security = TransportSecuritySettings(allowed_hosts=["mcp.example.com", "mcp.example.com:*", "127.0.0.1", "127.0.0.1:*"])
    server.run("streamable-http", host="127.0.0.1", port=PORT, streamable_http_path=f"/{NAME}/mcp", transport_security=security)
