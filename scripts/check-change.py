#!/usr/bin/env python3
"""`mcp-authz diff` and `mcp-authz matrix` on the shipped policies, as a user runs them: a
diff's witnesses re-checked with `mcp-authz explain` (the decision before and after, from the
witness claims alone), exit codes, the matrix in all three formats, and the HTML form rendered
by headless Chromium: the DOM has the tables, and the screenshot shows the cells' colours.
(`replay` runs in e2e/run.py, over the audit log the end-to-end traffic wrote.)

    python3 scripts/check-change.py .build/debug/mcp-authz
"""
import csv
import io
import json
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from checklib import check, finish  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(binary, *args):
    result = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    return result.returncode, result.stdout, result.stderr


def explain(binary, policies, server, operation, claims, work):
    path = work / "witness.json"
    path.write_text(json.dumps(claims))
    args = ["explain", policies, "--server", server, "--method", operation["method"], "--claims", path]
    if "name" in operation:
        args += ["--name", operation["name"]]
    code, out, err = run(binary, *args)
    return out.splitlines()[0] if code == 0 and out else f"explain failed: {err}"


def diff_checks(binary, work):
    old, new = work / "old", work / "new"
    shutil.copytree(ROOT / "policies", old)
    shutil.copytree(ROOT / "policies", new)
    todos = (new / "todos.yaml").read_text()
    edited = todos.replace("when: { scopes: [read:billing] }", "when: { any_scopes: [read:billing, admin:billing] }")
    check("diff: the edit applies to the shipped todos policy", edited != todos)
    (new / "todos.yaml").write_text(edited)

    code, out, err = run(binary, "diff", old, old)
    check("diff of a policy with itself: no change, exit 0", code == 0 and ": 0 changes in 0 operations" in out, out + err)

    code, out, err = run(binary, "diff", "--json", old, new)
    report = json.loads(out) if out.strip().startswith("{") else {}
    changes = report.get("changes", [])
    check(f"diff --json: the edit's changes are found, exit 1 ({len(changes)} changes)",
          code == 1 and len(changes) >= 1 and all(c["server"] == "todos" and c["operation"].get("name") == "get_billing"
                                                   and c["before"]["decision"] == "deny" and c["after"]["decision"] == "allow"
                                                   for c in changes) and report.get("cut_short") == [], out[:800] + err)
    # The witness is evidence: its claims alone give the reported decision under each policy.
    for change in changes:
        before = explain(binary, old, change["server"], change["operation"], change["witness_claims"], work)
        after = explain(binary, new, change["server"], change["operation"], change["witness_claims"], work)
        check(f"diff witness {json.dumps(change['witness_claims'], sort_keys=True)}: explain says deny before, allow after",
              before.startswith("decision: deny") and after.startswith("decision: allow"), f"{before} / {after}")
    check("diff: a witness holds admin:billing and not read:billing",
          any("admin:billing" in json.dumps(c["witness_claims"]) and "read:billing" not in json.dumps(c["witness_claims"])
              for c in changes), json.dumps(changes)[:500])

    code, out, err = run(binary, "diff", old, new)
    check("diff (text): names the operation, the caller class, both decisions and the witness",
          code == 1 and "todos  tools/call tool 'get_billing'" in out and "deny → allow  for scopes admin:billing" in out
          and "after: allow (allowed, rule 'billing')" in out and "witness: claims {" in out, out + err)
    code, out, err = run(binary, "diff", old, work / "missing")
    check("diff with a policy that cannot be read: exit 2 with the reason", code == 2 and "missing" in err, out + err)


class Tables(HTMLParser):
    """The tables of a rendered page: {server: {row label: {column label: cell text}}}."""

    def __init__(self):
        super().__init__()
        self.tables, self.server, self.row, self.cell, self.header, self.text = {}, None, None, None, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.server, self.header = attrs.get("data-server"), []
            self.tables[self.server] = {}
        elif tag in ("th", "td"):
            self.text = ""
        elif tag == "tr":
            self.row = []

    def handle_data(self, data):
        if self.text is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.text is not None:
            self.row.append(self.text)
            self.text = None
        elif tag == "tr" and self.row is not None:
            if not self.header:
                self.header = self.row
            else:
                self.tables[self.server][self.row[0]] = dict(zip(self.header[1:], self.row[1:]))
            self.row = None


def png_pixels(path):
    """The RGB(A) pixels of a PNG as rows of bytes (8-bit, no interlace: what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, height, channels = 8, b"", 0, 0, 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows, channels


def matrix_checks(binary, work):
    code, out, err = run(binary, "matrix", ROOT / "policies", "--server", "ops")
    check("matrix (markdown): the ops server's table, with the class the rules combine (group sre + env_access prod)",
          code == 0 and out.startswith("### ops") and "| operation | any caller |" in out
          and re.search(r"\| tool restart_production \| deny \| deny \| deny \| allow \|", out) is not None
          and 'group sre + env_access = "prod"' in out, out + err)
    code, out, err = run(binary, "matrix", ROOT / "policies", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    header = rows[0] if rows else []
    by_key = {(r[0], r[1]): dict(zip(header, r)) for r in rows[1:]}
    check("matrix --format csv: one row per server and operation, cells by caller",
          code == 0 and header[:3] == ["server", "operation", "any caller"]
          and by_key.get(("todos", "tool get_billing"), {}).get("any caller") == "with scope read:billing"
          and by_key.get(("images", "tool generateImage"), {}).get("alice@example.com or bob@example.com") == "allow", out[:600] + err)
    code, out, err = run(binary, "matrix", ROOT / "policies", "--server", "nope")
    check("matrix --server naming no server: exit 2 with the servers there are", code == 2 and "todos" in err, err)

    page = work / "matrix.html"
    code, out, err = run(binary, "matrix", ROOT / "policies", "--format", "html")
    page.write_text(out)
    check("matrix --format html: self-contained (no script, link, image or remote URL)",
          code == 0 and not re.search(r"<script|<link|<img|src=|href=|url\(|https?://(?!example)", out.split("<body>")[0] + re.sub(
              r"<code>.*?</code>", "", out.split("<body>")[-1])), out[:300] + err)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        check("chromium is installed (scripts/test installs it)", False)
        return
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={work / 'chromium'}"]
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    tables = Tables()
    tables.feed(dom.stdout)
    check(f"chromium renders the matrix: a table per server ({sorted(tables.tables)})",
          sorted(tables.tables) == ["docs", "images", "ops", "todos"], dom.stderr[-500:])
    ops = tables.tables.get("ops", {})
    check("chromium's DOM: restart_production is allowed to group sre with env_access prod, denied to any caller",
          ops.get("tool restart_production", {}).get('group sre + env_access = "prod"') == "allow"
          and ops.get("tool restart_production", {}).get("any caller") == "deny", json.dumps(ops)[:500])
    shot = work / "matrix.png"
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1400,900", page.as_uri()], capture_output=True, timeout=120)
    if not shot.exists():
        check("chromium takes a screenshot of the matrix", False)
        return
    pixels, channels = png_pixels(shot)
    colours = {tuple(line[x:x + 3]) for line in pixels for x in range(0, len(line), channels)}
    # The stylesheet's cell colours: allow #dff3e2, deny #fbe3e1, a scope #fff4d6.
    check("chromium's screenshot shows allow, deny and scope cells in their colours",
          {(0xDF, 0xF3, 0xE2), (0xFB, 0xE3, 0xE1), (0xFF, 0xF4, 0xD6)} <= colours, f"{len(colours)} colours")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/mcp-authz"
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-change-"))
    try:
        diff_checks(binary, work)
        matrix_checks(binary, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish("diff and matrix")


if __name__ == "__main__":
    main()
