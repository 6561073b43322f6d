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

echo "deploy: checked"
