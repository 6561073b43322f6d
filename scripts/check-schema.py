#!/usr/bin/env python3
"""Validate policy files against the published JSON Schema, as an editor would.

Usage: check-schema.py SCHEMA PATH...   (a PATH may be a folder; *_test.yaml files are skipped)
Exits 1 when a file does not validate. A second check, in the Swift tests, holds the schema's
keys to the loader's, so this one shows the shipped examples agree with the schema itself.
"""
import json
import pathlib
import sys

import jsonschema
import yaml


def policy_files(path: pathlib.Path):
    if path.is_file():
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.suffix in (".yaml", ".yml") and not child.stem.endswith("_test") and not child.name.startswith("."):
            yield child


def main() -> int:
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = checked = 0
    for arg in sys.argv[2:]:
        for file in policy_files(pathlib.Path(arg)):
            checked += 1
            document = yaml.safe_load(file.read_text())
            for error in validator.iter_errors(document):
                failures += 1
                where = "/".join(str(p) for p in error.absolute_path)
                print(f"{file}: {where}: {error.message}")
    print(f"schema: {checked} files checked, {failures} problems")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
