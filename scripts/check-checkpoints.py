#!/usr/bin/env python3
"""Signed audit checkpoints at the process level: `audit keygen`, `serve --audit-signing-key`
writing checkpoints at start, every N records and at stop, `audit verify --public-key`, and the
same signatures checked here by Python's `cryptography` from the documented format alone. Then
the attacks the checkpoints exist for: a record changed and the whole chain recomputed (without
the key), records removed after a checkpoint, a log cut short, another key.

    python3 scripts/check-checkpoints.py .build/debug/mcp-authz
"""
import hashlib
import http.client
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish, free_port, mint, one_server_policy, wait_for_port  # noqa: E402

RESOURCE = "https://mcp.example.com/todos/mcp"


def verify(binary, log, key, *extra):
    out = subprocess.run([binary, "audit", "verify", "--public-key", str(key), *extra, str(log)], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def chain_line(fields, prev):
    """A record as mcp-authz writes it (compact JSON, then prev and hash): what someone without
    the key can recompute."""
    body = json.dumps({**fields, "prev": prev}, separators=(",", ":"), ensure_ascii=False)[:-1]
    digest = hashlib.sha256(body.encode()).hexdigest()  # over the line up to ,"hash"
    return body + f',"hash":"{digest}"}}', digest


def rebuild(lines, forge_checkpoints=True):
    """Recomputes every prev and hash after the records were edited (keeps the first prev); with
    `forge_checkpoints`, also points each checkpoint's `chain` at the new chain (its signature,
    which needs the key, stays as it was)."""
    records = [json.loads(line) for line in lines]
    prev, out = records[0]["prev"], []
    for record in records:
        fields = {k: v for k, v in record.items() if k not in ("prev", "hash")}
        if forge_checkpoints and fields.get("event") == "checkpoint":
            fields["chain"] = prev
        line, prev = chain_line(fields, prev)
        out.append(line)
    return out


def main():
    binary = sys.argv[1]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-checkpoints-"))
    key = folder / "audit-key.pem"
    made = subprocess.run([binary, "audit", "keygen", "--out", str(key)], capture_output=True, text=True)
    check("audit keygen writes a private key (mode 600) and its .pub", made.returncode == 0 and key.stat().st_mode & 0o777 == 0o600
          and (folder / "audit-key.pem.pub").exists(), made.stdout + made.stderr)
    again = subprocess.run([binary, "audit", "keygen", "--out", str(key)], capture_output=True, text=True)
    check("audit keygen never overwrites a key", again.returncode == 1 and "exists" in again.stderr, again.stderr)
    public = folder / "audit-key.pem.pub"
    tokens = mint(folder, RESOURCE, {"reader": {"sub": "alice", "scope": "read:todos"}})
    (folder / "policy.yaml").write_text(one_server_policy(folder, "{ path_prefix: /todos/mcp }", RESOURCE, """      - name: readers
        when: { scopes: [read:todos] }
        allow: { tools: [get_todo] }
"""))
    log = folder / "audit.jsonl"
    port = free_port()
    process = subprocess.Popen([binary, "serve", "--policies", str(folder / "policy.yaml"), "--listen", f"127.0.0.1:{port}",
                                "--audit", str(log), "--audit-signing-key", str(key), "--audit-checkpoint-records", "10",
                                "--watch-interval", "0", "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_for_port(port):
            raise SystemExit("mcp-authz did not start")
        for i in range(35):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/auth", headers={"X-Original-Method": "POST", "X-Original-URI": "/todos/mcp",
                                                        "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                                                        "Mcp-Name": "get_todo", "Authorization": f"Bearer {tokens['reader']}"})
            connection.getresponse().read()
            connection.close()
            if i == 20:
                time.sleep(0.3)  # let a block or two be written apart
        time.sleep(0.3)
        code, out = verify(binary, log, public)
        check("while the sidecar runs, verify fails for want of the closing checkpoint", code == 1 and "closing checkpoint" in out, out)
        code, out = verify(binary, log, public, "--allow-open")
        check("with --allow-open it passes and reports what is unproven", code == 0 and "unproven:" in out, out)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    events = [r.get("event", "decision") for r in records]
    check("checkpoints at start, after at most 10 records each, and after audit_stop",
          events[events.index("audit_start") + 1:].count("checkpoint") >= 4 and events[-2:] == ["audit_stop", "checkpoint"]
          and "checkpoint" in events[:4], str(events))
    code, out = verify(binary, log, public)
    check("audit verify --public-key: every checkpoint verified, nothing unproven", code == 0 and "unproven: 0 records" in out, out)

    # The documented format, checked with Python's cryptography alone.
    key_bytes = serialization.load_pem_public_key(public.read_bytes())
    raw = key_bytes.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import base64
    b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    key_id = b64(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}, separators=(",", ":")).encode()).digest())
    good, previous_hash, since = 0, None, 0
    for record in records:
        if record.get("event") == "checkpoint":
            message = f"mcp-authz-audit-checkpoint-v1\n{record['chain']}\n{record['records']}\n{record['time']}\n{record['key_id']}"
            signature = base64.urlsafe_b64decode(record["signature"] + "==")
            key_bytes.verify(signature, message.encode())  # raises if it does not verify
            good += record["chain"] == previous_hash and record["key_id"] == key_id
        previous_hash = record["hash"]
    check("Python's cryptography verifies every checkpoint from the documented format", good == events.count("checkpoint"),
          f"{good} of {events.count('checkpoint')}")

    # Attacks.
    decision = next(i for i, r in enumerate(records) if r.get("decision") == "allow")
    forged = [dict(r) for r in records]
    forged[decision]["decision"] = "deny"
    rebuilt = rebuild([json.dumps(r, separators=(",", ":")) for r in forged])
    (folder / "rebuilt.jsonl").write_text("\n".join(rebuilt) + "\n")
    plain = subprocess.run([binary, "audit", "verify", str(folder / "rebuilt.jsonl")], capture_output=True, text=True)
    check("a record changed and the chain recomputed without the key passes the plain chain check (why checkpoints exist)",
          plain.returncode == 0, plain.stdout + plain.stderr)
    code, out = verify(binary, folder / "rebuilt.jsonl", public)
    check("...and fails at the first checkpoint after it, signature not verifying", code == 1 and "signature does not verify" in out, out)
    (folder / "naive.jsonl").write_text("\n".join(rebuild([json.dumps(r, separators=(",", ":")) for r in forged], False)) + "\n")
    code, out = verify(binary, folder / "naive.jsonl", public)
    check("...or, its chain fields left alone, at that checkpoint naming another chain", code == 1 and "another chain" in out, out)

    checkpoint_lines = [i for i, e in enumerate(events) if e == "checkpoint"]
    cut_at = checkpoint_lines[2]
    (folder / "cut.jsonl").write_text("\n".join(lines[:cut_at + 1]) + "\n")
    code, out = verify(binary, folder / "cut.jsonl", public)
    check("a log cut right after a checkpoint (later records removed) fails: no closing checkpoint", code == 1
          and "closing checkpoint" in out, out)
    dropped = lines[:checkpoint_lines[1] + 1] + lines[checkpoint_lines[1] + 2:]
    (folder / "dropped.jsonl").write_text("\n".join(rebuild(dropped)) + "\n")
    code, out = verify(binary, folder / "dropped.jsonl", public)
    check("a record removed after a checkpoint, the chain recomputed: fails at the next checkpoint", code == 1
          and ("signature does not verify" in out or "counts" in out), out)
    other = folder / "other.pem.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.PEM,
                                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    code, out = verify(binary, log, other)
    check("another public key: fails (signed by another key)", code == 1 and "another key" in out, out)
    jwk = folder / "public.jwk"
    jwk.write_text(json.dumps({"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}))
    code, out = verify(binary, log, jwk)
    check("the public key as a JWK works alike", code == 0, out)
    finish("checkpoint checks")


if __name__ == "__main__":
    main()
