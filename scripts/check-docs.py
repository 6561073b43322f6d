#!/usr/bin/env python3
"""The issuer blocks docs/identity-providers.md shows are the ones its policy file holds, so
what a reader copies is what `mcp-authz validate` and `mcp-authz test` checked."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
doc = (ROOT / "docs/identity-providers.md").read_text()
policy = (ROOT / "docs/identity-providers/policy.yaml").read_text()
blocks = re.findall(r"```yaml\nissuers:\n(.*?)\n```", doc, re.S)
missing = [block.splitlines()[0].strip() for block in blocks if block not in policy]
if not blocks or missing:
    sys.exit(f"docs: issuer blocks not in docs/identity-providers/policy.yaml: {missing or 'none found'}")
print(f"docs: {len(blocks)} issuer blocks, each in the policy file")
