"""tools/list filtered by mcp-authz, for MCP servers built with the official Python SDK (2.x).

Behind plain forward auth mcp-authz never sees a server's answers, so a caller would list
tools it may not call. This asks mcp-authz's /v1/filter, with the caller's own token (nginx
passes `Authorization` on to the server), which of the server's tools the caller may use, and
lists only those. Fail closed: when mcp-authz cannot be asked, the list is empty.

    from mcp_authz_filter import AuthzFilteredServer
    server = AuthzFilteredServer("todos", authz_url="http://127.0.0.1:9090", server_id="todos")

`server_id` is the server's `id` in the policy. (It overrides the SDK's tools/list handler,
`MCPServer._handle_list_tools`; check it after upgrading the SDK.)
"""
from mcp.server.mcpserver import MCPServer

try:  # the HTTP client the SDK 2.x installs
    import httpx2 as httpx
except ImportError:
    import httpx


class AuthzFilteredServer(MCPServer):
    def __init__(self, name, *, authz_url, server_id, timeout=2.0, **kwargs):
        super().__init__(name, **kwargs)
        self._filter_url = authz_url.rstrip("/") + "/v1/filter"
        self._server_id = server_id
        self._timeout = timeout

    async def _handle_list_tools(self, ctx, params):
        result = await super()._handle_list_tools(ctx, params)
        request = getattr(ctx, "request", None)
        authorization = request.headers.get("authorization", "") if request is not None else ""
        scheme, _, credential = authorization.partition(" ")
        # Bearer or DPoP: the list filter asks about the caller, whose request already passed
        # mcp-authz with its DPoP proof.
        token = credential.strip() if scheme.lower() in ("bearer", "dpop") and credential else None
        question = {"server": self._server_id, "token": token, "tools": [tool.name for tool in result.tools]}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = (await client.post(self._filter_url, json=question)).raise_for_status().json()
            permitted = set(answer.get("tools", []))
        except (httpx.HTTPError, ValueError):
            permitted = set()
        result.tools = [tool for tool in result.tools if tool.name in permitted]
        return result
