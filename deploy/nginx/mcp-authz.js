// nginx njs handler: asks mcp-authz with the JSON-RPC body, so tool-level decisions hold for
// MCP clients older than protocol 2026-07-28 (they send no Mcp-Method/Mcp-Name headers).
// Plain auth_request never forwards the body; this reads it, sends it to /auth in a
// subrequest, and on allow continues to the upstream with the body intact.

async function authorize(r) {
    let reply;
    try {
        // The body is in memory: client_body_buffer_size covers client_max_body_size.
        reply = await r.subrequest('/_mcp_authz_body', { method: 'POST', body: r.requestText || '' });
    } catch (e) {
        r.error('mcp-authz subrequest failed: ' + e);
        r.return(403);
        return;
    }
    const headers = reply.headersOut;
    r.variables.authz_decision = headers['X-Authz-Decision-Id'] || '';
    if (reply.status === 200) {
        r.variables.authz_subject = headers['X-Authz-Subject'] || '';
        r.variables.authz_email = headers['X-Authz-Email'] || '';
        r.variables.authz_scopes = headers['X-Authz-Scopes'] || '';
        r.internalRedirect(r.variables.mcp_upstream_location);
        return;
    }
    // Deny: pass the challenge on (a 401 or an insufficient_scope 403 carries one).
    if (headers['WWW-Authenticate']) {
        r.headersOut['WWW-Authenticate'] = headers['WWW-Authenticate'];
    }
    r.return(reply.status === 401 ? 401 : 403);
}

export default { authorize };
