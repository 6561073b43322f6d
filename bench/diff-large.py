#!/usr/bin/env python3
"""How long `mcp-authz diff` takes on the benchmark's 10,000-rule policy (bench/run.py's large
policy: 10,000 rules and a 100,000-email allowlist) against a one-rule edit of it, and against
an edit of the allowlist rule itself. On demand, not in CI:

    swift build -c release --product mcp-authz
    python3 bench/diff-large.py .build/release/mcp-authz
"""
import pathlib
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: the policy generator)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/mcp-authz"
    work = pathlib.Path(tempfile.mkdtemp(prefix="mcp-authz-diff-bench-"))
    keys = types.SimpleNamespace(jwks_uri="http://127.0.0.1:9/jwks.json")
    old = run.large_policy(keys)
    edits = {
        "one rule's scope": old.replace("when: { scopes: [scope0] }\n        allow: { tools: [tool5100] }",
                                        "when: { scopes: [scope7] }\n        allow: { tools: [tool5100] }"),
        "one rule's email": old.replace("emails: [user5000@example.com] }", "emails: [user5000@example.org] }"),
        "the allowlist rule (100,000 emails)": old.replace("allow: { tools: [generateImage] }",
                                                             "allow: { tools: [generateImage, editImage] }"),
    }
    (work / "old.yaml").write_text(old)
    for name, new in edits.items():
        assert new != old, name
        (work / "new.yaml").write_text(new)
        started = time.monotonic()
        result = subprocess.run([binary, "diff", "--json", "--max-policy-bytes", str(64 << 20), str(work / "old.yaml"),
                                 str(work / "new.yaml")], capture_output=True, text=True)
        elapsed = time.monotonic() - started
        summary = result.stdout[:0]
        try:
            import json
            report = json.loads(result.stdout)
            summary = (f"{len(report['changes'])} changes, {report['operations_compared']} operations, "
                       f"{report['classes_compared']} caller classes, cut short: {len(report['cut_short'])}")
        except ValueError:
            summary = result.stderr.strip()[:300]
        print(f"{name:40} exit {result.returncode}  {elapsed:6.2f} s  ({summary})")


if __name__ == "__main__":
    main()
