#!/usr/bin/env bash
# Checks the deploy/ files that cannot run end to end here with the tools that exist for them.
# (nginx, Caddy and logrotate configurations run for real in e2e/run.py and check-audit.py.)
# Usage: scripts/check-deploy.sh MCP_AUTHZ_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- systemd unit: systemd-analyze verify (with ExecStart pointing at the built binary)"
sed "s#/usr/local/bin/mcp-authz#$bin#" deploy/systemd/mcp-authz.service > "$work/mcp-authz.service"
if ! out=$(systemd-analyze verify "$work/mcp-authz.service" 2>&1) || [ -n "$out" ]; then
    echo "$out"
    exit 1
fi

echo "-- Kubernetes manifests: kubernetes-validate --strict"
kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml

echo "-- Caddyfile: caddy validate"
caddy validate --adapter caddyfile --config deploy/caddy/Caddyfile >/dev/null 2>"$work/caddy.log" || { cat "$work/caddy.log"; exit 1; }

echo "-- Traefik and Envoy configurations: YAML syntax only (neither program is packaged here)"
yamllint -d '{extends: relaxed, rules: {line-length: disable}}' deploy/traefik deploy/envoy

echo "-- logrotate snippet: logrotate --debug"
PATH="$PATH:/usr/sbin" logrotate --debug --state /dev/null deploy/logrotate/mcp-authz >/dev/null 2>&1

echo "-- scripts/release: the tarball packs the binary and its files, and its checksum verifies"
python3 scripts/release --binary "$bin" --out "$work/release" >/dev/null
(cd "$work/release" && sha256sum --quiet -c ./*.sha256)
tarball=$(ls "$work/release"/*.tar.gz)
tar -xzf "$tarball" -C "$work/release"
top="$work/release/$(basename "$tarball" .tar.gz)"
for shipped in bin/mcp-authz README.md LICENSE CHANGELOG.md deploy/nginx/mcp-authz.conf policies/todos.yaml; do
    [ -e "$top/$shipped" ] || { echo "release tarball lacks $shipped"; exit 1; }
done
"$top/bin/mcp-authz" validate "$top/policies" >/dev/null

echo "-- Dockerfile: bakes in no policy, copies what the build needs"
! grep -q '^COPY policies' Dockerfile || { echo "Dockerfile bakes in the example policies"; exit 1; }
for needed in Package.swift Plugins Sources Tests; do
    grep -q "^COPY .*$needed" Dockerfile || { echo "Dockerfile does not copy $needed"; exit 1; }
done

echo "deploy: checked"
