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
    // Deny: pass the challenge on (a 401 or an insufficient_scope 403 carries one), and answer
    // a JSON-RPC error naming the reason and the decision id, for the request's own id.
    const status = reply.status === 401 ? 401 : 403;
    if (headers['WWW-Authenticate']) {
        r.headersOut['WWW-Authenticate'] = headers['WWW-Authenticate'];
    }
    const reason = headers['X-Authz-Reason'] || 'denied';
    r.headersOut['X-Authz-Reason'] = reason;
    r.headersOut['X-Authz-Decision-Id'] = r.variables.authz_decision;
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, JSON.stringify(denial(r.requestText, status, reason, r.variables.authz_decision)) + '\n');
}

// The JSON-RPC error for a denied request: -32090 (no usable token) or -32091 (not permitted),
// in the implementation-defined range the MCP specification leaves free; the id of the request
// when it is a single request, else null.
function denial(body, status, reason, decision) {
    let id = null;
    try {
        const message = JSON.parse(body || 'null');
        if (message && !Array.isArray(message) && (typeof message.id === 'string' || typeof message.id === 'number')) {
            id = message.id;
        }
    } catch (e) {
        // Not JSON: answer with a null id.
    }
    const what = status === 401 ? 'Unauthorized' : 'Forbidden';
    return {
        jsonrpc: '2.0', id: id,
        error: {
            code: status === 401 ? -32090 : -32091,
            message: what + ' by mcp-authz: ' + reason + ' (decision ' + decision + ')',
            data: { status: status, reason: reason, decision_id: decision },
        },
    };
}

export default { authorize };
