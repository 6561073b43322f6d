// nginx njs handler: asks mcp-authz with the JSON-RPC body, so tool-level decisions hold for
// MCP clients older than protocol 2026-07-28 (they send no Mcp-Method/Mcp-Name headers).
// Plain auth_request never forwards the body; this reads it, sends it to /auth in a
// subrequest, and on allow continues to the upstream with the body intact.
//
// A tools/list, prompts/list or resources/list answer is filtered before it reaches the
// client: the upstream's answer (JSON or an SSE stream) is read whole, its entries are sent to
// mcp-authz's /v1/filter with the caller's token (tools as whole definitions, for servers that
// pin them), and only those the caller may use (tools/call, prompts/get, resources/read) are
// kept. Fail closed: an answer that cannot be
// read is refused (502), and when mcp-authz cannot be asked the lists are emptied.

// What each list method answers, and the field that names an entry (as /v1/filter takes it).
const LISTS = {
    'tools/list': { kind: 'tools', field: 'name' },
    'prompts/list': { kind: 'prompts', field: 'name' },
    'resources/list': { kind: 'resources', field: 'uri' },
};

// Hop-by-hop fields and those r.return sets itself: never copied from the upstream's answer.
const UNCOPIED = ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer'];

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
        const lists = listRequests(r.method === 'POST' ? r.requestText : null);
        if (Object.keys(lists).length === 0) {
            r.internalRedirect(r.variables.mcp_upstream);
            return;
        }
        await answerFiltered(r, lists, headers['X-Authz-Server'] || '');
        return;
    }
    // Deny: pass the challenge on (a 401 or an insufficient_scope 403 carries one), and answer
    // a JSON-RPC error naming the reason and the decision id, for the request's own id. A limit
    // without room (rate_limited) is 429 with Retry-After.
    const reason = headers['X-Authz-Reason'] || 'denied';
    const limited = reply.status === 403 && reason === 'rate_limited';
    // Headers that disagree with the body: 400 and HeaderMismatch, as an MCP server answers them.
    const mismatch = reply.status === 403 && reason === 'header_mismatch';
    const status = reply.status === 401 ? 401 : (limited ? 429 : (mismatch ? 400 : 403));
    if (headers['WWW-Authenticate']) {
        r.headersOut['WWW-Authenticate'] = headers['WWW-Authenticate'];
    }
    if (limited) {
        r.headersOut['Retry-After'] = headers['Retry-After'] || '1';
        r.headersOut['X-Authz-Limit'] = headers['X-Authz-Limit'] || '';
    }
    r.headersOut['X-Authz-Reason'] = reason;
    r.headersOut['X-Authz-Decision-Id'] = r.variables.authz_decision;
    r.headersOut['Content-Type'] = 'application/json';
    const answer = denial(r.requestText, status, reason, r.variables.authz_decision);
    if (limited) {
        const limit = headers['X-Authz-Limit'] || '';
        const retryAfter = parseInt(headers['Retry-After'] || '1', 10);
        answer.error.message = 'Too many requests (mcp-authz limit: ' + limit + '); retry after ' + retryAfter + ' s (decision ' + r.variables.authz_decision + ')';
        answer.error.data.limit = limit;
        answer.error.data.retry_after = retryAfter;
    }
    r.return(status, JSON.stringify(answer) + '\n');
}

// The JSON-RPC error for a denied request: -31401 (no usable token), -31403 (not permitted) or
// -31429 (a limit without room), application-defined codes outside JSON-RPC's reserved range
// (MCP 2026-07-28 reserves -32020 to -32099 for its own); -32020 (HeaderMismatch, MCP's own) for
// headers that disagree with the body. The id of the request when it is a single request, else null.
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
    const what = status === 401 ? 'Unauthorized' : (status === 400 ? 'Refused' : 'Forbidden');
    return {
        jsonrpc: '2.0', id: id,
        error: {
            code: status === 401 ? -31401 : (status === 429 ? -31429 : (status === 400 ? -32020 : -31403)),
            message: what + ' by mcp-authz: ' + reason + ' (decision ' + decision + ')',
            data: { status: status, reason: reason, decision_id: decision },
        },
    };
}

// The list requests of a body (one message or a batch), by request id: {"=1": LISTS[...]}.
function listRequests(body) {
    const lists = {};
    let messages;
    try {
        messages = JSON.parse(body || 'null');
    } catch (e) {
        return lists;   // mcp-authz allowed it, so it is not a list request it could read
    }
    (Array.isArray(messages) ? messages : [messages]).forEach((message) => {
        if (message && typeof message === 'object' && LISTS.hasOwnProperty(message.method) && idKey(message.id)) {
            lists[idKey(message.id)] = LISTS[message.method];
        }
    });
    return lists;
}

// A request id as a key: 1 and "1" are one key, so an answer that changes the id's type is
// filtered all the same.
function idKey(id) {
    return typeof id === 'string' || typeof id === 'number' ? '=' + id : null;
}

// Sends the request upstream in a subrequest, filters the list answers in what comes back,
// and answers the client with the rest of the upstream's answer unchanged.
async function answerFiltered(r, lists, server) {
    let reply;
    try {
        reply = await r.subrequest(r.variables.mcp_upstream, { method: 'POST', body: r.requestText });
    } catch (e) {
        r.error('mcp-authz: upstream subrequest failed: ' + e);
        r.return(502);
        return;
    }
    const text = reply.responseText || '';
    const type = (reply.headersOut['Content-Type'] || '').split(';')[0].trim().toLowerCase();
    let answer = null;
    if (reply.status !== 200) {
        answer = text;  // an HTTP error, or 202: no list in it
    } else if (type === 'text/event-stream' || (type === 'application/json' && isJSON(text))) {
        const messages = type === 'application/json' ? [text] : eventData(text);
        const names = listedNames(messages, lists);
        const permitted = await permittedNames(r, server, names);
        const filter = (data) => filterMessage(data, lists, permitted);
        answer = type === 'application/json' ? filter(text) : rewriteEvents(text, filter);
    }
    if (answer === null) {
        r.error('mcp-authz: a list answer that is neither JSON nor an event stream ("' + type + '") is refused');
        r.return(502);
        return;
    }
    for (const name in reply.headersOut) {
        if (UNCOPIED.indexOf(name.toLowerCase()) < 0) {
            r.headersOut[name] = reply.headersOut[name];
        }
    }
    r.return(reply.status, answer);
}

function isJSON(text) {
    try {
        JSON.parse(text);
        return true;
    } catch (e) {
        return false;
    }
}

// The data of each complete event of an SSE stream (an event ends with a blank line; lines end
// with CRLF, LF or CR; "data:" lines join with LF).
function events(text) {
    const found = [];
    let lines = [];
    const all = text.split(/\r\n|\r|\n/);
    all.pop();  // what follows the last line end: a line never finished, or nothing
    all.forEach((line) => {
        if (line === '') {
            if (lines.length > 0) {
                found.push(lines);
            }
            lines = [];
        } else {
            lines.push(line);
        }
    });
    return found;   // an event the stream ended inside is never dispatched by a client: dropped
}

function dataOf(lines) {
    const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(line.startsWith('data: ') ? 6 : 5));
    return data.length > 0 ? data.join('\n') : null;
}

function eventData(text) {
    return events(text).map(dataOf).filter((data) => data !== null);
}

// The stream with each event's data filtered: an event whose data changes gets it as one
// "data:" line where its first one was; everything else is kept.
function rewriteEvents(text, filter) {
    return events(text).map((lines) => {
        const data = dataOf(lines);
        const filtered = data === null ? null : filter(data);
        if (filtered === data) {
            return lines.join('\n') + '\n\n';
        }
        const kept = [];
        let placed = false;
        lines.forEach((line) => {
            if (!line.startsWith('data:')) {
                kept.push(line);
            } else if (!placed) {
                kept.push('data: ' + filtered);
                placed = true;
            }
        });
        return kept.join('\n') + '\n\n';
    }).join('');
}

// Each list answer among the messages (by the id of its request) with its result.
function listAnswers(data, lists) {
    let parsed;
    try {
        parsed = JSON.parse(data);
    } catch (e) {
        return null;
    }
    const found = [];
    (Array.isArray(parsed) ? parsed : [parsed]).forEach((message) => {
        const key = message && typeof message === 'object' ? idKey(message.id) : null;
        const list = key && lists.hasOwnProperty(key) ? lists[key] : null;
        if (list && message.result && typeof message.result === 'object') {
            found.push({ message: message, list: list });
        }
    });
    return { parsed: parsed, found: found };
}

function listedNames(messages, lists) {
    const names = { tools: [], prompts: [], resources: [] };
    messages.forEach((data) => {
        const answers = listAnswers(data, lists);
        (answers ? answers.found : []).forEach((answer) => {
            entriesOf(answer).forEach((entry) => {
                if (entry && typeof entry[answer.list.field] === 'string') {
                    // Tools go whole: a server that pins its definitions has each one checked.
                    names[answer.list.kind].push(answer.list.kind === 'tools' ? entry : entry[answer.list.field]);
                }
            });
        });
    });
    return names;
}

function entriesOf(answer) {
    const entries = answer.message.result[answer.list.kind];
    return Array.isArray(entries) ? entries : [];
}

// The data with each list answer keeping only permitted entries (entries without a name go),
// or the data unchanged when it holds no list answer.
function filterMessage(data, lists, permitted) {
    const answers = listAnswers(data, lists);
    if (!answers || answers.found.length === 0) {
        return data;
    }
    answers.found.forEach((answer) => {
        const list = answer.list;
        answer.message.result[list.kind] = entriesOf(answer).filter((entry) =>
            entry && typeof entry[list.field] === 'string' && permitted[list.kind].hasOwnProperty('=' + entry[list.field]));
    });
    return JSON.stringify(answers.parsed);
}

// The names the caller may use, per kind, from /v1/filter (each name as a key "=name"); every
// kind empty when mcp-authz cannot be asked or says no.
async function permittedNames(r, server, names) {
    const permitted = { tools: {}, prompts: {}, resources: {} };
    const question = { server: server, token: callerToken(r) };
    let asked = false;
    Object.keys(names).forEach((kind) => {
        if (names[kind].length > 0) {
            question[kind] = names[kind];
            asked = true;
        }
    });
    if (!asked) {
        return permitted;
    }
    try {
        const reply = await r.subrequest('/_mcp_authz_filter', { method: 'POST', body: JSON.stringify(question) });
        if (reply.status !== 200) {
            throw new Error('status ' + reply.status);
        }
        const answer = JSON.parse(reply.responseText);
        Object.keys(permitted).forEach((kind) => {
            (Array.isArray(answer[kind]) ? answer[kind] : []).forEach((name) => {
                permitted[kind]['=' + name] = true;
            });
        });
    } catch (e) {
        r.error('mcp-authz: /v1/filter failed (' + e + '); the list is answered empty');
    }
    return permitted;
}

// The caller's token: Authorization's Bearer or DPoP token (a list filter does not check the
// DPoP proof: the request itself passed /auth with it), else the header $mcp_authz_token_header
// names (an issuer's token_header, such as Cf-Access-Jwt-Assertion).
function callerToken(r) {
    const authorization = r.headersIn['Authorization'] || '';
    if (authorization.slice(0, 7).toLowerCase() === 'bearer ') {
        return authorization.slice(7).trim();
    }
    if (authorization.slice(0, 5).toLowerCase() === 'dpop ') {
        return authorization.slice(5).trim();
    }
    const header = r.variables.mcp_authz_token_header;
    return header ? (r.headersIn[header] || null) : null;
}

export default { authorize };
