#!/usr/bin/env python3
"""DPoP (RFC 9449) at the process level: tokens bound to a key (`cnf.jkt`) and proofs made here
by PyJWT and cryptography (never by mcp-authz's code), sent to /auth and /v1/decide. A valid
proof passes once; every forgery is refused with its reason, `WWW-Authenticate: DPoP
error="invalid_dpop_proof"` and an audit record; the issuer's `dpop: required` and `off` and a
full replay cache are run as their own sidecars.

    python3 scripts/check-dpop.py .build/debug/mcp-authz
"""
import base64
import hashlib
import http.client
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, mint, wait_for_port  # noqa: E402

RESOURCE = "https://mcp.example.com/notes/mcp"
URL = "http://mcp.example.com/notes/mcp"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ProofKey:
    """A client's key pair and its RFC 7638 thumbprint, computed here from the public JWK."""

    def __init__(self, kind="ES256"):
        self.alg = kind
        if kind == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
            required = ["crv", "kty", "x", "y"]
        elif kind in ("RS256", "PS256"):
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
            required = ["e", "kty", "n"]
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key()))
            required = ["crv", "kty", "x"]
        canonical = json.dumps({k: self.jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
        self.thumbprint = b64(hashlib.sha256(canonical.encode()).digest())

    def proof(self, token, method="POST", url=URL, iat_in=0, jwk=None, typ="dpop+jwt", alg=None, ath=True, signer=None, **extra):
        claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time()) + iat_in, **extra}
        if ath:
            claims["ath"] = b64(hashlib.sha256(token.encode()).digest()) if ath is True else ath
        header = {"typ": typ, "jwk": jwk if jwk is not None else self.jwk}
        return jwt.encode(claims, (signer or self).private, algorithm=alg or self.alg, headers=header)


class Sidecar:
    def __init__(self, binary, folder, dpop_mode, *flags):
        policy = folder / f"policy-{dpop_mode}.yaml"
        policy.write_text(f"""version: 1
issuers:
  - id: idp
    issuer: https://idp.test.example/
    jwks_file: {folder / "jwks.json"}
    dpop: {dpop_mode}
servers:
  - id: notes
    match: {{ path_prefix: /notes/mcp }}
    resource: {RESOURCE}
    issuers: [idp]
    rules:
      - name: readers
        when: {{ scopes: [read:notes] }}
        allow: {{ tools: [read_note] }}
""")
        self.port = free_port()
        self.audit = folder / f"audit-{dpop_mode}.jsonl"
        self.process = subprocess.Popen(
            [binary, "serve", "--policies", str(policy), "--listen", f"127.0.0.1:{self.port}", "--audit", str(self.audit),
             "--watch-interval", "0", "--log-level", "error", *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port):
            raise SystemExit("mcp-authz did not start")

    def ask(self, authorization, proofs=(), proto="http", method="POST"):
        """/auth as nginx asks it; returns (status, reason, WWW-Authenticate)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.putrequest("GET", "/auth", skip_accept_encoding=True)
        fields = [("X-Original-Method", method), ("X-Original-URI", "/notes/mcp?session=1"), ("X-Forwarded-Host", "mcp.example.com"),
                  ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "read_note"),
                  ("Authorization", authorization)]
        if proto:
            fields.append(("X-Forwarded-Proto", proto))
        fields += [("DPoP", proof) for proof in proofs]
        for name, value in fields:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        connection.close()
        reason = response.getheader("X-Authz-Reason") or ("allowed" if response.status == 200 else None)
        return response.status, reason, response.getheader("WWW-Authenticate") or ""

    def decide(self, question):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("POST", "/v1/decide", body=json.dumps({"server": "notes", "method": "tools/call", "name": "read_note",
                                                                   **question}))
        answer = json.loads(connection.getresponse().read() or b"{}")
        connection.close()
        return answer

    def stop(self):
        self.process.terminate()
        self.process.wait(15)


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-dpop-"))
    keys = {kind: ProofKey(kind) for kind in ["ES256", "RS256", "PS256", "EdDSA"]}
    other = ProofKey("ES256")
    claims = {"sub": "alice", "scope": "read:notes"}
    tokens = mint(folder, RESOURCE, {**{kind: {**claims, "cnf": {"jkt": key.thumbprint}} for kind, key in keys.items()},
                                     "unbound": claims})
    bound, key = tokens["ES256"], keys["ES256"]
    dpop = f"DPoP {bound}"

    sidecar = Sidecar(binary, folder, "allowed")
    try:
        proof = key.proof(bound)
        status, reason, _ = sidecar.ask(dpop, [proof])
        check("a bound token with its key's proof: allowed", (status, reason) == (200, "allowed"), f"{status} {reason}")
        status, reason, challenge = sidecar.ask(dpop, [proof])
        check("the same proof again: 401 dpop_proof_replayed", (status, reason) == (401, "dpop_proof_replayed"), f"{status} {reason}")
        check("the refusal challenges DPoP with error=invalid_dpop_proof and the algorithms",
              challenge.startswith('DPoP error="invalid_dpop_proof", algs="ES256 ES384 ES512 EdDSA RS256 PS256"'), challenge)
        for kind in ["RS256", "PS256", "EdDSA"]:
            outcome = sidecar.ask(f"DPoP {tokens[kind]}", [keys[kind].proof(tokens[kind])])[:2]
            check(f"a {kind} proof key: allowed", outcome == (200, "allowed"), str(outcome))
        check("htu with another case, the default port and a query: the same URL",
              sidecar.ask(dpop, [key.proof(bound, url="HTTP://MCP.Example.com:80/notes/mcp?x=1")])[:2] == (200, "allowed"))
        cases = [
            ("the bound token as Bearer", f"Bearer {bound}", [key.proof(bound)], {}, "dpop_proof_missing"),
            ("Authorization: DPoP without a proof", dpop, [], {}, "dpop_proof_missing"),
            ("a proof for GET", dpop, [key.proof(bound, method="GET")], {}, "dpop_method_mismatch"),
            ("a proof for another path", dpop, [key.proof(bound, url="http://mcp.example.com/images/mcp")], {}, "dpop_url_mismatch"),
            ("a proof for another host", dpop, [key.proof(bound, url="http://evil.example/notes/mcp")], {}, "dpop_url_mismatch"),
            ("a proof for https when the client used http", dpop, [key.proof(bound, url="https://mcp.example.com/notes/mcp")], {},
             "dpop_url_mismatch"),
            ("no X-Forwarded-Proto from the proxy", dpop, [key.proof(bound)], {"proto": None}, "dpop_url_mismatch"),
            ("ath of another token", dpop, [key.proof(bound, ath=b64(hashlib.sha256(b"other").digest()))], {}, "dpop_ath_mismatch"),
            ("no ath", dpop, [key.proof(bound, ath=False)], {}, "dpop_ath_mismatch"),
            ("the jwk with its private part (d)", dpop,
             [key.proof(bound, jwk={**key.jwk, "d": b64(key.private.private_numbers().private_value.to_bytes(32, "big"))})], {},
             "dpop_proof_invalid"),
            ("alg none", dpop, [jwt.encode({"jti": "n", "htm": "POST", "htu": URL, "iat": int(time.time())}, None, algorithm="none",
                                           headers={"typ": "dpop+jwt", "jwk": key.jwk})], {}, "dpop_proof_invalid"),
            ("HS256 with the thumbprint as secret", dpop,
             [jwt.encode({"jti": "h", "htm": "POST", "htu": URL, "iat": int(time.time())}, key.thumbprint.encode() * 2, algorithm="HS256",
                         headers={"typ": "dpop+jwt", "jwk": key.jwk})], {}, "dpop_proof_invalid"),
            ("typ jwt", dpop, [key.proof(bound, typ="JWT")], {}, "dpop_proof_invalid"),
            ("another key's proof (its own jwk)", dpop, [other.proof(bound)], {}, "dpop_key_mismatch"),
            ("the bound key's jwk, signed by another key", dpop, [key.proof(bound, jwk=key.jwk, signer=other)], {}, "dpop_proof_invalid"),
            ("iat five minutes old", dpop, [key.proof(bound, iat_in=-300)], {}, "dpop_proof_stale"),
            ("iat five minutes ahead", dpop, [key.proof(bound, iat_in=300)], {}, "dpop_proof_stale"),
            ("two DPoP headers", dpop, [key.proof(bound), key.proof(bound)], {}, "dpop_proof_invalid"),
            ("an unbound token with Authorization: DPoP", f"DPoP {tokens['unbound']}", [key.proof(tokens["unbound"])], {},
             "dpop_key_mismatch"),
            ("a bound token of another key kind with this key's proof", f"DPoP {tokens['EdDSA']}", [key.proof(tokens["EdDSA"])], {},
             "dpop_key_mismatch"),
        ]
        for name, authorization, proofs, options, expected in cases:
            status, reason, challenge = sidecar.ask(authorization, proofs, **options)
            check(f"{name}: 401 {expected}", (status, reason) == (401, expected) and challenge.startswith("DPoP "),
                  f"{status} {reason} {challenge}")
        check("an unbound token as Bearer (dpop: allowed): allowed", sidecar.ask(f"Bearer {tokens['unbound']}")[:2] == (200, "allowed"))
        check("a refused proof does not use up its jti: the same request with a good proof passes",
              sidecar.ask(dpop, [key.proof(bound)])[:2] == (200, "allowed"))

        good = key.proof(bound)
        answer = sidecar.decide({"token": bound, "dpop": {"proof": good, "http_method": "POST", "http_url": URL}})
        check("/v1/decide with the client's proof: allowed", answer.get("allow") is True, str(answer))
        answer = sidecar.decide({"token": bound, "dpop": {"proof": good, "http_method": "POST", "http_url": URL}})
        check("/v1/decide with that proof again: dpop_proof_replayed", answer.get("reason") == "dpop_proof_replayed"
              and answer.get("www_authenticate", "").startswith("DPoP error"), str(answer))
        answer = sidecar.decide({"token": bound})
        check("/v1/decide with a bound token and no proof: dpop_proof_missing", answer.get("reason") == "dpop_proof_missing", str(answer))
        answer = sidecar.decide({"token": bound, "dpop": {"proof": key.proof(bound), "http_method": "POST"}})
        check("/v1/decide with an incomplete dpop object: 400", answer.get("allow") is None, str(answer))
    finally:
        sidecar.stop()
    time.sleep(0.2)
    reasons = [json.loads(line).get("reason") for line in sidecar.audit.read_text().splitlines() if '"event":"decision"' in line]
    check("every refusal is audited with its reason",
          all(reasons.count(expected) >= 1 for *_, expected in cases) and reasons.count("dpop_proof_replayed") == 2, str(reasons))
    check("no token or proof in the audit", bound not in sidecar.audit.read_text() and good not in sidecar.audit.read_text())

    required = Sidecar(binary, folder, "required", "--dpop-replay-cache-size", "3")
    try:
        check("dpop: required: an unbound token as Bearer is refused (dpop_key_mismatch)",
              required.ask(f"Bearer {tokens['unbound']}")[:2] == (401, "dpop_key_mismatch"))
        outcomes = [required.ask(dpop, [key.proof(bound)])[:2] for _ in range(4)]
        check("dpop: required: a bound token with proofs passes; a fourth proof while three are remembered is refused",
              outcomes == [(200, "allowed")] * 3 + [(401, "dpop_replay_cache_full")], str(outcomes))
    finally:
        required.stop()
    off = Sidecar(binary, folder, "off")
    try:
        check("dpop: off: Authorization: DPoP is refused", off.ask(dpop, [key.proof(bound)])[:2] == (401, "dpop_proof_invalid"))
        check("dpop: off: the bound token as Bearer is not held to its key", off.ask(f"Bearer {bound}")[:2] == (200, "allowed"))
    finally:
        off.stop()
    finish("dpop checks")


if __name__ == "__main__":
    main()
