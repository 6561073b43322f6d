"""A real MCP client from the official Python SDK, of whichever era is installed in the
interpreter that runs it: `mcp` 2.x speaks protocol 2026-07-28 (and sends Mcp-Method/Mcp-Name),
`mcp` 1.x speaks 2025-11-25 and older (and does not).

Usage: client.py URL TOKEN|- ACTION...
  ACTION: list | prompts | resources | call:TOOL | call:TOOL:ARGUMENTS (a JSON object)
  E2E_EXTRA_HEADERS (environment): a JSON object of further headers to send on every request.
Prints one JSON object: the SDK version, whether the session opened, each action's result, and
every HTTP response the SDK received (method, status, WWW-Authenticate).
"""
import asyncio
import importlib.metadata
import json
import os
import sys

VERSION = importlib.metadata.version("mcp")
MODERN = VERSION.startswith("2.")
responses = []


async def record(response):
    responses.append({"method": response.request.method, "status": response.status_code,
                      "www_authenticate": response.headers.get("www-authenticate")})


async def act(session, action):
    try:
        if action == "list":
            listed = await session.list_tools()
            return {"action": action, "ok": True, "tools": sorted(tool.name for tool in listed.tools)}
        if action == "prompts":
            listed = await session.list_prompts()
            return {"action": action, "ok": True, "prompts": sorted(prompt.name for prompt in listed.prompts)}
        if action == "resources":
            listed = await session.list_resources()
            return {"action": action, "ok": True, "resources": sorted(str(resource.uri) for resource in listed.resources)}
        _, name, *arguments = action.split(":", 2)
        result = await session.call_tool(name, json.loads(arguments[0]) if arguments else {})
        error = result.is_error if MODERN else result.isError
        return {"action": action, "ok": not error, "text": result.content[0].text if result.content else None}
    except BaseException as error:  # noqa: BLE001 - the SDK's failure is the result
        return {"action": action, "ok": False, "error": repr(error)[:500]}


async def run(url, token, actions):
    headers = json.loads(os.environ.get("E2E_EXTRA_HEADERS", "{}"))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    results = []
    if MODERN:
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
        async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [record]}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                for action in actions:
                    results.append(await act(client, action))
    else:
        import httpx
        from mcp import ClientSession
        from mcp.client.streamable_http import streamablehttp_client

        def factory(headers=None, timeout=None, auth=None):
            return httpx.AsyncClient(headers=headers, timeout=timeout, auth=auth, event_hooks={"response": [record]})

        async with streamablehttp_client(url, headers=headers, httpx_client_factory=factory) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for action in actions:
                    results.append(await act(session, action))
    return results


def main():
    url, token, actions = sys.argv[1], sys.argv[2], sys.argv[3:]
    outcome = {"sdk": VERSION, "connected": False, "results": [], "error": None}
    try:
        outcome["results"] = asyncio.run(asyncio.wait_for(run(url, None if token == "-" else token, actions), 60))
        outcome["connected"] = True
    except BaseException as error:  # noqa: BLE001 - a refused session is an outcome to report
        outcome["error"] = repr(error)[:500]
    outcome["responses"] = responses
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
