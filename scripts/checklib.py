"""What the process-level checks (check-*.py) share: reporting, free ports, waiting for a
listener, and tokens minted by PyJWT with a JWKS file beside them."""
import json
import http.server
import pathlib
import socket
import ssl
import subprocess
import threading
import sys
import time

SCRIPTS = pathlib.Path(__file__).resolve().parent
failures = []


def check(name, ok, detail=""):
    """Prints ok/FAIL for one expectation; remembers failures for finish()."""
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if not ok:
        failures.append(name)
        if detail:
            print(detail, file=sys.stderr)


def finish(title):
    """Prints the summary and exits 1 if anything failed."""
    print(f"{title}: {'all passed' if not failures else f'{len(failures)} failed'}")
    sys.exit(1 if failures else 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def mint(folder, audience, tokens, issuer="https://idp.test.example/"):
    """Mints {name: claims} for `audience` with a fresh key; writes folder/jwks.json and
    returns {name: token}."""
    spec = {"issuer": issuer, "tokens": {name: {"aud": audience, **claims} for name, claims in tokens.items()}}
    minted = json.loads(subprocess.run([sys.executable, str(SCRIPTS / "mint-tokens.py")], input=json.dumps(spec),
                                       capture_output=True, text=True, check=True).stdout)
    (folder / "jwks.json").write_text(json.dumps(minted["jwks"]))
    return minted["tokens"]


def one_server_policy(folder, match, resource, rules, extra=""):
    """A policy with the minted issuer (keys from folder/jwks.json) and one server `todos`;
    `rules` and `extra` (more server keys) are YAML lines indented for the server."""
    return f"""version: 1
issuers:
  - id: idp
    issuer: https://idp.test.example/
    jwks_file: {folder / "jwks.json"}
servers:
  - id: todos
    match: {match}
    resource: {resource}
    issuers: [idp]
{extra}    rules:
{rules}"""


def serve_posts(answer, port=0):
    """Answers POSTs on 127.0.0.1 from a thread: `answer(path, headers, body bytes)` returns
    (status, JSON text, seconds to wait before answering). Returns the server (shut it down when
    done)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            status, text, wait = answer(self.path, self.headers, self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if wait:
                time.sleep(wait)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_documents(documents, port=0, tls=None, asked=None, delay=None):
    """Serves {path: JSON document} on 127.0.0.1 (404 for other paths) from a thread; with
    tls=(certificate file, key file), over TLS; every path asked is appended to the list
    `asked` when one is given; each answer is held back `delay()` seconds when given. Returns
    the server (shut it down when done)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if asked is not None:
                asked.append(self.path)
            if delay:
                time.sleep(delay())
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
