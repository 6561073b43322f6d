#!/usr/bin/env python3
"""The benchmark suite: mcp-authz beside the machine's HTTP limit and beside a trusted peer,
measured in one run, on demand; never a test (scripts/test only runs --smoke to see it works).

    bench/run.py                 # builds in release mode, runs everything, prints one table
    bench/run.py --smoke         # a second per contestant, to check the harness (CI)
    bench/run.py --binary PATH   # benchmark this binary instead of building

Contestants, each a server pinned to core 0 while wrk (one thread, fixed connections) runs on
core 1, so every contestant gets the same single core:
  A  nginx `return 204`: the HTTP limit of this machine.
  B  mcp-authz /auth (plain auth_request shape: Mcp-Method/Mcp-Name headers), one cached valid
     RS256 token, allowed, audit to a file, `--audit-durability queued` (an answer goes once its
     record is queued).
  C  B with the audit off.
  D  B with a different token on every request and a one-entry token cache: every request
     verifies an RS256 signature.
  E  Apache httpd with mod_auth_openidc as an OAuth resource server, validating the same token
     against the same JWKS with `Require claim scope:read:todos`.
  F  nginx auth_request end to end: nginx (one worker) asks mcp-authz, then proxies to a
     separate upstream server block; nginx and mcp-authz share core 0.
  G  B with a 10,000-rule policy holding a 100,000-email allowlist, deciding for one of those
     emails.
  H  SwiftNIO's HTTP/1 server answering 204 to B's request without reading it (nio-constant,
     one event loop): the limit of the HTTP stack mcp-authz is built on.
  I  F with mcp-authz replaced by an nginx location answering 204 with the identity header:
     what auth_request itself costs nginx, the bound for any auth_request sidecar (F/I is how
     close mcp-authz comes to it; F/A what authorization costs at all).
  J  B with a shadow policy set (`--shadow-policies`, the same policy) decided beside it on
     every request: what shadow mode costs (J/B; goal at least 0.85).
  K  B with two limits configured (per caller, and per caller and tool), both applying to
     every request and never refusing: what counting costs (K/B; goal at least 0.9).
  L  B with an opaque token of an issuer whose tokens are introspected (RFC 7662) against a
     stub endpoint on 127.0.0.1: the endpoint is asked once, every later request is decided
     from the kept answer (L/B; goal at least 0.9).
  M  B with a DPoP-bound token (RFC 9449) and a new ES256 proof on every request (made before
     the run by cryptography): the proof's signature, binding, URL and replay check each time.
  N  B with `--audit-durability written`: every answer waits until its record's block was
     handed to the kernel (group commit) (N/B; goal at least 0.8, else the default stays queued).
  O  B with `--audit-durability synced`: the same, and the file on disk (fdatasync) first.
Every contestant runs once per round, round-robin (--rounds, default 3), and the medians are
reported, so that this VM's drifting speed falls on all alike. Then: B's p99 at half of B's
peak rate (wrk with a random per-connection delay), and A's at half of A's for scale, mcp-authz's resident memory
during the B run, start-up to the first /healthz answer, the time a SIGHUP reload of G's
policy takes, and (full mode) the engine and token-path micro-benchmarks of the earlier issues.

Tokens and keys are made at start with PyJWT and cryptography; the JWKS is served on 127.0.0.1.
Nothing is sent anywhere else.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from checklib import free_port, serve_documents, serve_posts  # noqa: E402
ISSUER = "https://idp.bench.example/"
RESOURCE = "https://todos.bench.example/mcp"
SERVER_CORE, CLIENT_CORE = "0", "1"
CONNECTIONS = 32


def ensure_tools():
    """wrk, nginx and Apache with mod_auth_openidc from apt; PyJWT and cryptography from pip."""
    missing = [package for command, package in [("wrk", "wrk"), ("nginx", "nginx"), ("apache2", "apache2")]
               if not shutil.which(command) and not os.path.exists(f"/usr/sbin/{command}")]
    if not os.path.exists("/usr/lib/apache2/modules/mod_auth_openidc.so"):
        missing.append("libapache2-mod-auth-openidc")
    if missing:
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    try:
        import jwt  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "PyJWT", "cryptography"], check=True)


def get(url, headers=None, timeout=2):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


def wait_until(predicate, seconds=30, step=0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def self_signed_certificate(work):
    """A throwaway certificate for 127.0.0.1; returns (certificate file, key file)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (work / "tls.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (work / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return str(work / "tls.crt"), str(work / "tls.key")


class Keys:
    """One RSA issuer: its JWKS served on 127.0.0.1, tokens signed by PyJWT."""

    def __init__(self, work):
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.jwt = jwt
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "bench-1", "alg": "RS256", "use": "sig"})
        documents = {"/jwks.json": {"keys": [jwk]}}
        (work / "jwks.json").write_text(json.dumps(documents["/jwks.json"]))
        self.server = serve_documents(documents)
        self.jwks_uri = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        # mod_auth_openidc takes only an https JWKS URI: the same document over TLS, with a
        # certificate made now (Apache is told not to validate it; it is all on 127.0.0.1).
        self.tls_server = serve_documents(documents, tls=self_signed_certificate(work))
        self.tls_jwks_uri = f"https://127.0.0.1:{self.tls_server.server_address[1]}/jwks.json"

    def token(self, **claims):
        now = int(time.time())
        body = {"iss": ISSUER, "aud": RESOURCE, "iat": now, "exp": now + 86400, "scope": "read:todos", **claims}
        return self.jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "bench-1"})


def small_policy(keys):
    """The example's shape (policies/todos.yaml): protocol basics, scoped tools, a group-guarded deny."""
    return f"""version: 1
issuers:
  - id: idp
    issuer: {ISSUER}
    jwks_uri: {keys.jwks_uri}
servers:
  - id: todos
    match: {{ path_prefix: /mcp }}
    resource: {RESOURCE}
    issuers: [idp]
    scopes_supported: [read:todos, read:billing]
    rules:
      - name: protocol basics
        allow: {{ methods: [initialize, ping, "notifications/*", tools/list] }}
      - name: todo tools
        when: {{ scopes: [read:todos] }}
        allow: {{ tools: [list_todos, get_todo] }}
      - name: billing
        when: {{ scopes: [read:billing] }}
        allow: {{ tools: [get_billing] }}
      - name: no deletes outside the admins group
        when: {{ not: {{ groups: [mcp-admins] }} }}
        deny: {{ tools: ["delete_*"] }}
"""


def limited_policy(keys):
    """The small policy with two limits that apply to B's request and never refuse it."""
    return small_policy(keys) + """    limits:
      - name: per caller
        key: [subject]
        rate: 1000000/s
        burst: 1000000
      - name: per caller and tool
        applies_to: { tools: [get_todo, list_todos] }
        key: [subject, tool]
        rate: 1000000/s
        burst: 1000000
"""


def large_policy(keys, rules=10_000, emails=100_000):
    """policy-bench's large policy (Sources/PolicyBenchmark) for the sidecar: 10,000 rules of
    scope, group and email conditions and a 100,000-email allowlist for generateImage."""
    lines = [small_policy(keys).split("    rules:\n")[0] + "    rules:",
             "      - name: protocol basics",
             '        allow: { methods: [initialize, ping, "notifications/*", tools/list] }',
             "      - name: image allowlist", "        when:", "          emails:"]
    lines += [f"          - user{e}@example.com" for e in range(emails)]
    lines += ["        allow: { tools: [generateImage] }",
              "      - name: no deletes outside admins",
              "        when: { not: { groups: [admins] } }",
              '        deny: { tools: ["delete_*"] }']
    for r in range(rules):
        condition = [f"scopes: [scope{r % 100}]", f"groups: [group{r % 200}]", f"emails: [user{r}@example.com]"][r % 3]
        lines += [f"      - name: rule {r}", f"        when: {{ {condition} }}", f"        allow: {{ tools: [tool{r}] }}"]
    return "\n".join(lines) + "\n"


def introspected_policy(keys, endpoint):
    """The small policy's rules for an issuer whose tokens are all introspected at `endpoint`."""
    rules = small_policy(keys).split("    rules:\n")[1]
    return f"""version: 1
issuers:
  - id: opaque
    issuer: https://opaque.bench.example/
    introspection: {{ url: {endpoint}, client_id: bench, client_secret_file: client.secret }}
servers:
  - id: todos
    match: {{ path_prefix: /mcp }}
    resource: {RESOURCE}
    issuers: [opaque]
    rules:
{rules}"""


def introspection_endpoint():
    """An RFC 7662 endpoint on 127.0.0.1 answering every token active for a day; counts calls."""
    calls = []

    def answer(path, headers, body):
        calls.append(1)
        return 200, json.dumps({"active": True, "sub": "user-reader", "scope": "read:todos", "aud": RESOURCE,
                                "exp": int(time.time()) + 86400}), 0

    return serve_posts(answer), calls


class DPoPClient:
    """A client's ES256 key (cryptography), its RFC 7638 thumbprint, and one-use proofs."""

    def __init__(self):
        import base64
        import hashlib
        from cryptography.hazmat.primitives.asymmetric import ec
        self.b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        self.sha256 = lambda data: hashlib.sha256(data).digest()
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": self.b64(numbers.x.to_bytes(32, "big")), "y": self.b64(numbers.y.to_bytes(32, "big"))}
        self.header = self.b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())
        self.thumbprint = self.b64(self.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()))

    def write_proofs(self, path, count, token, url):
        """`count` proofs, each with its own jti, for a POST to `url` with `token`, one per line."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        ath, now = self.b64(self.sha256(token.encode())), int(time.time())
        with open(path, "w") as out:
            for i in range(count):
                claims = {"jti": f"bench-{path.stem}-{i}", "htm": "POST", "htu": url, "iat": now, "ath": ath}
                signing_input = self.header + "." + self.b64(json.dumps(claims, separators=(",", ":")).encode())
                r, s_ = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
                out.write(signing_input + "." + self.b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big")) + "\n")


def dpop_script(path, token, proofs_file):
    """B's request with `Authorization: DPoP` and the next proof of the file on every request."""
    lines = ['wrk.method = "GET"', 'wrk.path = "/auth"', 'wrk.headers["X-Original-Method"] = "POST"',
             'wrk.headers["X-Original-URI"] = "/mcp"', 'wrk.headers["X-Forwarded-Host"] = "todos.bench.example"',
             'wrk.headers["X-Forwarded-Proto"] = "https"', 'wrk.headers["MCP-Protocol-Version"] = "2026-07-28"',
             'wrk.headers["Mcp-Method"] = "tools/call"', 'wrk.headers["Mcp-Name"] = "get_todo"',
             f'wrk.headers["Authorization"] = "DPoP {token}"',
             "local proofs = {}", f'for line in io.lines("{proofs_file}") do proofs[#proofs + 1] = line end',
             "local i = 0", "request = function()", "  i = i + 1", '  wrk.headers["DPoP"] = proofs[i]', "  return wrk.format()", "end"]
    path.write_text("\n".join(lines) + "\n")
    return path


def auth_script(path, tool, token=None, tokens_file=None, delay_ms=None):
    """A wrk script asking /auth as nginx's auth_request would for a 2026-07-28 tools/call."""
    lines = ['wrk.method = "GET"', 'wrk.path = "/auth"',
             'wrk.headers["X-Original-Method"] = "POST"', 'wrk.headers["X-Original-URI"] = "/mcp"',
             'wrk.headers["MCP-Protocol-Version"] = "2026-07-28"',
             'wrk.headers["Mcp-Method"] = "tools/call"', f'wrk.headers["Mcp-Name"] = "{tool}"']
    if token:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    if tokens_file:
        lines += ["local tokens = {}", f'for line in io.lines("{tokens_file}") do tokens[#tokens + 1] = line end',
                  "local i = 0",
                  "request = function()", "  i = i % #tokens + 1",
                  '  wrk.headers["Authorization"] = "Bearer " .. tokens[i]',
                  "  return wrk.format()", "end"]
    if delay_ms is not None:
        # Uniform in [0, 2 x delay]: connections drift apart instead of firing in step.
        lines.append(f"delay = function() return math.random(0, {2 * delay_ms}) end")
    path.write_text("\n".join(lines) + "\n")
    return path


def bearer_script(path, token, url_path="/mcp", method="GET"):
    """A wrk script sending one bearer token to a protected path (Apache, nginx in front)."""
    path.write_text(f'wrk.method = "{method}"\nwrk.path = "{url_path}"\nwrk.headers["Authorization"] = "Bearer {token}"\n'
                    'wrk.headers["MCP-Protocol-Version"] = "2026-07-28"\n'
                    'wrk.headers["Mcp-Method"] = "tools/call"\nwrk.headers["Mcp-Name"] = "get_todo"\n')
    return path


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


class Bench:
    def __init__(self, binary, work, seconds, warmup):
        self.binary, self.work, self.seconds, self.warmup = binary, work, seconds, warmup
        self.rounds = {}
        self.processes = []

    def start(self, command, name, **kwargs):
        log = open(self.work / f"{name}.log", "w")
        process = subprocess.Popen(["taskset", "-c", SERVER_CORE, *command], stdout=log, stderr=subprocess.STDOUT, **kwargs)
        self.processes.append(process)
        return process

    def stop(self, process):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.remove(process)

    def stop_all(self):
        for process in list(self.processes):
            self.stop(process)

    def wrk(self, url, script, seconds=None, connections=CONNECTIONS, check_status=None):
        """Runs wrk pinned to the client core; returns requests/s, p50 and p99 in ms."""
        command = ["taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds or self.seconds}s",
                   "--latency", "-s", str(script), url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        if "Non-2xx or 3xx responses" in output:
            raise SystemExit(f"{url}: wrong answers under load (a contestant refused the request):\n{output}")
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
        return {"rps": rate, "p50": to_ms(latency["50"]), "p99": to_ms(latency["99"])}

    def measure(self, label, url, script, **kwargs):
        if self.warmup:
            self.wrk(url, script, seconds=self.warmup, **{k: v for k, v in kwargs.items() if k == "connections"})
        result = self.wrk(url, script, **kwargs)
        self.rounds.setdefault(label, []).append(result)
        print(f"  {label}: {result['rps']:,.0f} req/s, p50 {result['p50']:.3f} ms, p99 {result['p99']:.3f} ms", flush=True)
        return result

    @property
    def results(self):
        """Per contestant, the median over rounds of each figure."""
        return {label: {figure: statistics.median(run[figure] for run in runs) for figure in runs[0]}
                for label, runs in self.rounds.items()}

    # -- contestants

    def serve(self, policy, name, *flags):
        port = free_port()
        process = self.start([str(self.binary), "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{port}",
                              "--watch-interval", "0", "--log-level", "error", *flags], name)
        base = f"http://127.0.0.1:{port}"
        if not wait_until(lambda: get(base + "/readyz")[0] == 200, 120):
            raise SystemExit(f"mcp-authz ({name}) did not become ready; see {self.work / (name + '.log')}")
        return process, base

    def expect(self, base, script_headers, want=200):
        status, body = get(base + "/auth", script_headers)
        if status != want:
            raise SystemExit(f"{base}/auth answered {status}, not {want}: {body[:300]!r}")

    def nginx(self, name, body):
        conf = self.work / f"{name}.conf"
        conf.write_text(f"""worker_processes 1;
pid {self.work}/{name}.pid;
error_log {self.work}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
{body}
}}
""")
        process = self.start(["nginx", "-c", str(conf), "-p", str(self.work), "-g", "daemon off;"], name)
        return process

    def apache(self, port, keys):
        htdocs = self.work / "htdocs"
        htdocs.mkdir(exist_ok=True)
        (htdocs / "mcp").write_bytes(b"")
        modules = "/usr/lib/apache2/modules"
        conf = self.work / "apache.conf"
        conf.write_text(f"""ServerRoot {self.work}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {self.work}/apache.pid
ErrorLog {self.work}/apache-error.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
# One process, enough threads for every wrk connection: the same single core as the others.
StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MinSpareThreads 1
MaxSpareThreads 64
MaxRequestWorkers 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
DocumentRoot {htdocs}
<Directory {htdocs}>
    Require all granted
</Directory>
OIDCCacheType shm
OIDCOAuthVerifyJwksUri {keys.tls_jwks_uri}
OIDCSSLValidateServer Off
OIDCOAuthSSLValidateServer Off
OIDCOAuthAcceptTokenAs header
<Location /mcp>
    AuthType oauth20
    Require claim scope:read:todos
</Location>
""")
        for path in (self.work, htdocs):
            path.chmod(0o755)
        return self.start(["/usr/sbin/apache2", "-f", str(conf), "-DFOREGROUND"], "apache")


def rss_mib(pid):
    match = re.search(r"VmRSS:\s+(\d+) kB", pathlib.Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024


def sample_rss(pid, stop, peaks):
    while not stop.is_set():
        try:
            peaks.append(rss_mib(pid))
        except (OSError, AttributeError):
            return
        stop.wait(0.1)


def run(args):
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-bench-"))
    bench = Bench(args.binary, work, 1 if args.smoke else args.seconds, warmup=0 if args.smoke else 2)
    keys = Keys(work)
    token = keys.token(sub="user-reader")
    large_token = keys.token(sub="user-5000", email="user5000@example.com")
    unique = 200 if args.smoke else 3000
    print(f"minting {unique} distinct tokens (PyJWT)", flush=True)
    (work / "tokens.txt").write_text("\n".join(keys.token(sub=f"user-{i}", jti=str(i)) for i in range(unique)) + "\n")
    (work / "small.yaml").write_text(small_policy(keys))
    (work / "limited.yaml").write_text(limited_policy(keys))
    endpoint, introspections = introspection_endpoint()
    (work / "client.secret").write_text("bench-secret\n")
    (work / "client.secret").chmod(0o600)
    (work / "introspected.yaml").write_text(
        introspected_policy(keys, f"http://127.0.0.1:{endpoint.server_address[1]}/introspect"))
    opaque = "opaque-bench-" + os.urandom(16).hex()
    # M: a bound token and enough one-use proofs for a warm-up and a run per round (each round
    # starts a new sidecar, whose replay cache is empty); a proof used twice would be refused.
    dpop_client = DPoPClient()
    bound = keys.token(sub="user-reader", cnf={"jkt": dpop_client.thumbprint})
    warm_proofs, run_proofs = work / "proofs-warm.txt", work / "proofs-run.txt"
    if not args.only or "M" in args.only:
        print("making one-use DPoP proofs (cryptography)", flush=True)
        dpop_client.write_proofs(warm_proofs, 2_000 if args.smoke else 60_000, bound, RESOURCE)
        dpop_client.write_proofs(run_proofs, 20_000 if args.smoke else 300_000, bound, RESOURCE)
    (work / "large.yaml").write_text(large_policy(keys, rules=1000 if args.smoke else 10_000,
                                                  emails=10_000 if args.smoke else 100_000))
    asked = {"X-Original-Method": "POST", "X-Original-URI": "/mcp", "MCP-Protocol-Version": "2026-07-28",
             "Mcp-Method": "tools/call", "Mcp-Name": "get_todo", "Authorization": f"Bearer {token}"}
    b_script = auth_script(work / "b.lua", "get_todo", token=token)
    extra = {}

    def nginx_limit():
        port = free_port()
        nginx = bench.nginx("nginx-a", f"    server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}")
        wait_until(lambda: get(f"http://127.0.0.1:{port}/")[0] == 204)
        bench.measure("A", f"http://127.0.0.1:{port}", bearer_script(work / "a.lua", token, "/"))
        bench.stop(nginx)

    def cached_audit_on():
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-b", "--audit", str(work / "audit-b.jsonl"),
                                    "--audit-durability", "queued")
        bench.expect(base, asked)
        peaks, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(sidecar.pid, stop, peaks))
        sampler.start()
        bench.measure("B", base, b_script)
        stop.set()
        sampler.join()
        extra["rss_under_load_mib"] = max(peaks + [extra.get("rss_under_load_mib") or 0])
        bench.stop(sidecar)
        extra["audit_records_b"] = sum(1 for _ in open(work / "audit-b.jsonl"))

    def cached_audit_on_at_half_load():
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-b", "--audit", str(work / "audit-b.jsonl"),
                                    "--audit-durability", "queued")
        extra["half"] = half_load(bench, base, work, token, bench.results["B"]["rps"] / 2)
        bench.stop(sidecar)

    def written_at_half_load():
        # N's latency at half its peak: what holding each answer for its write costs when the
        # writer is not busy, side by side with B at half its peak.
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-n", "--audit", str(work / "audit-n.jsonl"),
                                    "--audit-durability", "written")
        extra["half_n"] = half_load(bench, base, work, token, bench.results["N"]["rps"] / 2, "N")
        bench.stop(sidecar)

    def nginx_limit_at_half_load():
        # The same harness on nginx, for scale: at half its own peak it runs ~4x the connections.
        port = free_port()
        nginx = bench.nginx("nginx-a", f"    server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}")
        wait_until(lambda: get(f"http://127.0.0.1:{port}/")[0] == 204)
        extra["half_a"] = half_load(bench, f"http://127.0.0.1:{port}", work, token, bench.results["A"]["rps"] / 2, "A")
        bench.stop(nginx)

    def shadow_policy():
        # B with a shadow policy set: the same policy, decided a second time beside it.
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-j", "--audit", str(work / "audit-j.jsonl"),
                                    "--shadow-policies", str(work / "small.yaml"))
        bench.measure("J", base, b_script)
        bench.stop(sidecar)

    def limited():
        # B with two limits counting every request under the same key.
        sidecar, base = bench.serve(work / "limited.yaml", "sidecar-k", "--audit", str(work / "audit-k.jsonl"))
        bench.expect(base, asked)
        bench.measure("K", base, b_script)
        bench.stop(sidecar)

    def introspected():
        # B with an opaque token: introspected once, then decided from the kept answer.
        sidecar, base = bench.serve(work / "introspected.yaml", "sidecar-l", "--audit", str(work / "audit-l.jsonl"))
        bench.expect(base, {**asked, "Authorization": f"Bearer {opaque}"})
        asked_before = len(introspections)
        bench.measure("L", base, auth_script(work / "l.lua", "get_todo", token=opaque))
        if len(introspections) != asked_before:
            raise SystemExit(f"L: the endpoint was asked {len(introspections) - asked_before} times under load; the answer was not kept")
        bench.stop(sidecar)

    def dpop_per_request():
        # B with a DPoP-bound token: a new proof checked on every request. Warm-up and run use
        # different proofs (each wrk run starts its file from the top).
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-m", "--audit", str(work / "audit-m.jsonl"),
                                    "--dpop-max-age", "3600", "--dpop-replay-cache-size", "1000000")
        if bench.warmup:
            bench.wrk(base, dpop_script(work / "m-warm.lua", bound, warm_proofs), seconds=bench.warmup)
        result = bench.wrk(base, dpop_script(work / "m.lua", bound, run_proofs))
        bench.rounds.setdefault("M", []).append(result)
        print(f"  M: {result['rps']:,.0f} req/s, p50 {result['p50']:.3f} ms, p99 {result['p99']:.3f} ms", flush=True)
        bench.stop(sidecar)

    def durable(label, mode):
        # B with answers held until their records are written (group commit), or synced.
        def measure():
            log = work / f"audit-{label.lower()}.jsonl"
            sidecar, base = bench.serve(work / "small.yaml", f"sidecar-{label.lower()}", "--audit", str(log),
                                        "--audit-durability", mode)
            bench.expect(base, asked)
            bench.measure(label, base, b_script)
            bench.stop(sidecar)
        return measure

    def cached_audit_off():
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-c", "--audit", "none")
        bench.measure("C", base, b_script)
        bench.stop(sidecar)

    def unique_tokens():
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-d", "--audit", str(work / "audit-d.jsonl"),
                                    "--token-cache-size", "1")
        bench.measure("D", base, auth_script(work / "d.lua", "get_todo", tokens_file=work / "tokens.txt"))
        bench.stop(sidecar)

    def apache_peer():
        port = free_port()
        apache = bench.apache(port, keys)
        url = f"http://127.0.0.1:{port}"
        if not wait_until(lambda: get(url + "/mcp", {"Authorization": f"Bearer {token}"})[0] == 200, 30):
            raise SystemExit(f"Apache did not answer 200 with the token; see {work}/apache-error.log")
        if get(url + "/mcp")[0] != 401 or get(url + "/mcp", {"Authorization": f"Bearer {large_token}x"})[0] != 401:
            raise SystemExit("Apache let a request without a valid token through")
        bench.measure("E", url, bearer_script(work / "e.lua", token))
        bench.stop(apache)

    def nginx_end_to_end():
        sidecar, base = bench.serve(work / "small.yaml", "sidecar-f", "--audit", str(work / "audit-f.jsonl"))
        front, upstream = free_port(), free_port()
        nginx = bench.nginx("nginx-f", nginx_front(front, upstream, base.removeprefix("http://")))
        url = f"http://127.0.0.1:{front}"
        without_original = {k: v for k, v in asked.items() if not k.startswith("X-")}
        if not wait_until(lambda: get(url + "/mcp", without_original)[0] == 204, 30):
            raise SystemExit(f"nginx did not pass an allowed request; see {work}/nginx-f-error.log")
        if get(url + "/mcp")[0] != 401:
            raise SystemExit("nginx let a request without a token through")
        bench.measure("F", url, bearer_script(work / "f.lua", token, method="POST"))
        bench.stop(nginx)
        bench.stop(sidecar)

    def nginx_auth_bound():
        # I: F's nginx with the sidecar replaced by an nginx location answering 204 with the
        # identity header: what auth_request itself costs, the bound for any such sidecar.
        front, upstream, auth = free_port(), free_port(), free_port()
        nginx = bench.nginx("nginx-i", nginx_front(front, upstream, f"127.0.0.1:{auth}") + f"""
    server {{
        listen 127.0.0.1:{auth};
        location = /auth {{ add_header X-Authz-Subject user-reader; return 204; }}
    }}""")
        url = f"http://127.0.0.1:{front}"
        if not wait_until(lambda: get(url + "/mcp")[0] == 204, 30):
            raise SystemExit(f"nginx did not pass a request through its own auth location; see {work}/nginx-i-error.log")
        bench.measure("I", url, bearer_script(work / "i.lua", token, method="POST"))
        bench.stop(nginx)

    def large_policy_run():
        started = time.monotonic()
        sidecar, base = bench.serve(work / "large.yaml", "sidecar-g", "--audit", str(work / "audit-g.jsonl"))
        extra["large_start_s"] = time.monotonic() - started
        bench.expect(base, {**asked, "Mcp-Name": "generateImage", "Authorization": f"Bearer {large_token}"})
        bench.measure("G", base, auth_script(work / "g.lua", "generateImage", token=large_token))
        extra["reload_s"] = reload_time(work / "large.yaml", sidecar, base)
        bench.stop(sidecar)

    def nio_limit():
        port = free_port()
        server = bench.start([str(args.binary.parent / "nio-constant"), str(port)], "nio-constant")
        if not wait_until(lambda: get(f"http://127.0.0.1:{port}/auth")[0] == 204, 30):
            raise SystemExit(f"nio-constant did not answer; see {work}/nio-constant.log")
        bench.measure("H", f"http://127.0.0.1:{port}", b_script)
        bench.stop(server)

    contestants = {"A": ("nginx return 204", nginx_limit), "B": ("mcp-authz, cached token, audit to a file", cached_audit_on),
                   "C": ("mcp-authz, cached token, audit off", cached_audit_off),
                   "D": ("mcp-authz, a new token every request (signature verified each time)", unique_tokens),
                   "E": ("Apache httpd + mod_auth_openidc, same token, same JWKS, Require claim", apache_peer),
                   "F": ("nginx auth_request -> mcp-authz -> upstream, end to end", nginx_end_to_end),
                   "G": ("mcp-authz with a 10,000-rule, 100,000-email policy", large_policy_run),
                   "H": ("SwiftNIO HTTP/1 answering 204 to B's request (nio-constant)", nio_limit),
                   "I": ("nginx auth_request -> nginx 204 -> upstream (the bound for any auth_request sidecar)", nginx_auth_bound),
                   "J": ("B with a shadow policy set (--shadow-policies) decided beside it", shadow_policy),
                   "K": ("B with two limits counting every request", limited),
                   "L": ("B with an opaque token introspected once (RFC 7662), then decided from the kept answer", introspected),
                   "M": ("B with a DPoP-bound token and a new ES256 proof on every request", dpop_per_request),
                   "N": ("B with --audit-durability written (answers wait for their block's write)", durable("N", "written")),
                   "O": ("B with --audit-durability synced (and for fdatasync)", durable("O", "synced"))}
    try:
        # Round-robin, so that drift of this machine's speed during the run (seen up to 2x over
        # minutes on this VM) falls on every contestant alike; medians are reported.
        for round_number in range(1, args.rounds + 1):
            for key, (title, measure) in contestants.items():
                if args.only and key not in args.only:
                    continue
                print(f"{key} (round {round_number}/{args.rounds}): {title}", flush=True)
                measure()
        if "B" in bench.rounds:
            print("B at half its peak", flush=True)
            cached_audit_on_at_half_load()
        if "N" in bench.rounds and not args.smoke:
            print("N at half its peak", flush=True)
            written_at_half_load()
        if "A" in bench.rounds and not args.smoke:
            print("A at half its peak", flush=True)
            nginx_limit_at_half_load()
        if not args.only:
            extra["startup_ms"] = startup_times(bench, work / "small.yaml", 3 if args.smoke else 10)
    finally:
        bench.stop_all()
        keys.server.shutdown()
        keys.tls_server.shutdown()
        endpoint.shutdown()
    report(bench.results, extra, args)
    if not args.smoke and not args.no_micro and not args.only:
        micro_benchmarks(args)
    shutil.rmtree(work, ignore_errors=True)


def nginx_front(front, upstream, sidecar):
    """F's nginx: auth_request to mcp-authz as deploy/nginx/mcp-authz.conf does, then a
    separate upstream server block (never a `return` in the guarded location: it would run
    before the check)."""
    return f"""    upstream mcp_authz {{ server {sidecar}; keepalive 32; }}
    upstream todos_mcp {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{ listen 127.0.0.1:{upstream}; location / {{ return 204; }} }}
    server {{
        listen 127.0.0.1:{front};
        location /mcp {{
            auth_request /_mcp_authz;
            auth_request_set $authz_subject $upstream_http_x_authz_subject;
            proxy_set_header X-Authz-Subject $authz_subject;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://todos_mcp;
        }}
        location = /_mcp_authz {{
            internal;
            proxy_pass http://mcp_authz/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $host;
        }}
    }}"""


def half_load(bench, base, work, token, target, label="B"):
    """B's latency at half its peak rate (the median peak over the rounds). wrk is closed-loop:
    each connection waits a random 0 to 2 x `delay` ms after every answer, so rate ~
    connections / (delay + latency); the delay is calibrated in two short runs, then measured."""
    connections = max(CONNECTIONS, round(target * 0.010))
    delay = max(1, round(connections * 1000 / target))
    for _ in range(2):
        trial = bench.wrk(base, auth_script(work / "b-half.lua", "get_todo", token=token, delay_ms=delay), seconds=2,
                          connections=connections)
        latency = connections * 1000 / trial["rps"] - delay
        delay = max(1, round(connections * 1000 / target - latency))
    result = bench.wrk(base, auth_script(work / "b-half.lua", "get_todo", token=token, delay_ms=delay),
                       connections=connections)
    print(f"  {label} at half its peak: {result['rps']:,.0f} req/s (target {target:,.0f}; {connections} connections, "
          f"{delay} ms between requests), p50 {result['p50']:.3f} ms, p99 {result['p99']:.3f} ms", flush=True)
    return {**result, "target": target}


def revision(base):
    status, body = get(base + "/readyz")
    return json.loads(body).get("policy_revision") if status else None


def reload_time(policy, process, base):
    """Seconds from SIGHUP to the new revision answering, for an edited large policy."""
    before = revision(base)
    with open(policy, "a") as file:
        file.write("# edited\n")
    started = time.monotonic()
    process.send_signal(signal.SIGHUP)
    if not wait_until(lambda: revision(base) != before, 120, step=0.005):
        raise SystemExit("the large policy was not reloaded")
    return time.monotonic() - started


def startup_times(bench, policy, runs):
    """Milliseconds from exec to the first /healthz answer, with the example-shaped policy."""
    times = []
    for i in range(runs):
        port = free_port()
        started = time.monotonic()
        process = bench.start([str(bench.binary), "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{port}",
                               "--watch-interval", "0", "--audit", "none", "--log-level", "error"], f"startup-{i}")
        wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)[0] == 200, 30, step=0.002)
        times.append((time.monotonic() - started) * 1000)
        bench.stop(process)
    return times


def report(results, extra, args):
    r = results
    rows = [("A", "nginx return 204 (HTTP limit)"), ("B", "mcp-authz, cached RS256 token, audit on (queued)"),
            ("C", "mcp-authz, cached token, audit off"), ("D", "mcp-authz, unique tokens (RS256 verify each)"),
            ("E", "Apache + mod_auth_openidc, same token"), ("F", "nginx auth_request -> mcp-authz -> upstream"),
            ("G", "mcp-authz, 10,000 rules + 100,000 emails"), ("H", "SwiftNIO HTTP/1 return 204 (stack limit)"),
            ("I", "nginx auth_request -> nginx 204 -> upstream (auth_request bound)"),
            ("J", "B with a shadow policy set"), ("K", "B with two limits counting every request"),
            ("L", "B with an introspected opaque token (answer kept)"),
            ("M", "B with DPoP: a new ES256 proof verified per request"),
            ("N", "B with --audit-durability written"), ("O", "B with --audit-durability synced")]
    print()
    print(f"| | contestant (server on 1 core, wrk -t1 -c{CONNECTIONS} on the other; median of {args.rounds} "
          f"round{'s' if args.rounds > 1 else ''}) | req/s | p50 ms | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for key, name in rows:
        if key in r:
            print(f"| {key} | {name} | {r[key]['rps']:,.0f} | {r[key]['p50']:.3f} | {r[key]['p99']:.3f} |")
    half = extra.get("half")
    if half:
        print(f"| B/2 | B at half its peak (target {half['target']:,.0f}/s) | {half['rps']:,.0f} | {half['p50']:.3f} | "
              f"{half['p99']:.3f} |")
    half_n = extra.get("half_n")
    if half_n:
        print(f"| N/2 | N at half its peak (target {half_n['target']:,.0f}/s) | {half_n['rps']:,.0f} | {half_n['p50']:.3f} | "
              f"{half_n['p99']:.3f} |")
    half_a = extra.get("half_a")
    if half_a:
        print(f"| A/2 | A at half its peak (target {half_a['target']:,.0f}/s) | {half_a['rps']:,.0f} | {half_a['p50']:.3f} | "
              f"{half_a['p99']:.3f} |")
    print()
    goals = [("B/A", "B", "A", 0.5), ("D/A", "D", "A", None), ("B/E", "B", "E", 3), ("D/E", "D", "E", None),
             ("G/B", "G", "B", 0.9), ("B/C", "B", "C", 0.9), ("F/A", "F", "A", None), ("F/I", "F", "I", None),
             ("H/A", "H", "A", None), ("B/H", "B", "H", None), ("J/B", "J", "B", 0.85), ("K/B", "K", "B", 0.9),
             ("L/B", "L", "B", 0.9), ("M/B", "M", "B", None), ("M/D", "M", "D", None), ("N/B", "N", "B", 0.8),
             ("O/B", "O", "B", None)]
    print("| ratio | value | goal |")
    print("| --- | ---: | --- |")
    for name, top, bottom, goal in goals:
        if top in r and bottom in r:
            value = r[top]["rps"] / r[bottom]["rps"]
            verdict = "" if goal is None else f">= {goal} {'met' if value >= goal else 'NOT met'}"
            print(f"| {name} | {value:.2f} | {verdict} |")
    if half:
        print(f"| B p99 at half load | {half['p99']:.3f} ms | < 1 ms {'met' if half['p99'] < 1 else 'NOT met'} |")
    rss = extra.get("rss_under_load_mib")
    if rss:
        print(f"| mcp-authz RSS under load (B, peak) | {rss:.1f} MiB | < 64 MiB {'met' if rss < 64 else 'NOT met'} |")
    print()
    startup = extra.get("startup_ms")
    if startup:
        print(f"start-up to first /healthz (example-shaped policy): median {statistics.median(startup):.0f} ms "
              f"(min {min(startup):.0f}, max {max(startup):.0f}, {len(startup)} runs)")
    if "reload_s" in extra:
        print(f"large policy: start-up to ready {extra['large_start_s']:.2f} s; SIGHUP reload to new revision "
              f"{extra['reload_s']:.2f} s")
    if "audit_records_b" in extra:
        print(f"audit records written during B (warm-up, run, half-load run): {extra['audit_records_b']:,}")
    if args.smoke:
        print("smoke run: figures are not measurements (1 s runs, small policy for G, debug builds allowed)")


def micro_benchmarks(args):
    """The engine and token-path costs, from the earlier issues' benchmarks (release build)."""
    print("\nengine (policy-bench --quick) and token path (token-bench --quick), one core:", flush=True)
    for product in ("policy-bench", "token-bench"):
        binary = ROOT / ".build/release" / product
        if not binary.exists():
            subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        output = subprocess.run(["taskset", "-c", SERVER_CORE, str(binary), "--quick"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout
        print("\n".join(f"  {line}" for line in output.strip().splitlines()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one second per contestant: checks the harness, measures nothing")
    parser.add_argument("--binary", type=pathlib.Path, help="mcp-authz to measure (default: build release)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds per measured wrk run (default 10)")
    parser.add_argument("--rounds", type=int, help="rounds over all contestants; medians are reported (default 3, smoke 1)")
    parser.add_argument("--only", type=lambda text: set(text.upper().split(",")), help="contestants to run, e.g. A,B,E")
    parser.add_argument("--no-micro", action="store_true", help="skip the engine and token micro-benchmarks")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.smoke else 3)
    ensure_tools()
    if args.binary is None:
        for product in ("mcp-authz", "nio-constant"):
            subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)
        args.binary = ROOT / ".build/release/mcp-authz"
    args.binary = args.binary.resolve()
    if not (args.binary.parent / "nio-constant").exists():
        raise SystemExit(f"H needs nio-constant beside {args.binary}: swift build --product nio-constant (same configuration)")
    if os.cpu_count() < 2:
        raise SystemExit("needs two cores: one for the servers, one for wrk")
    run(args)


if __name__ == "__main__":
    main()
