#!/usr/bin/env bash
# Uncached token verification against OpenSSL's raw signature verification, one core each,
# measured in the same run. Usage: bench/token-verify.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3
[[ "${1:-}" == "--quick" ]] && seconds=1
swift build -c release --product token-bench >/dev/null
# This machine's speed drifts, so OpenSSL runs before and after ours and its mean is the reference.
before=$(openssl speed -seconds "$seconds" rsa2048 ecdsap256 2>/dev/null)
ours=$(.build/release/token-bench "$@")
after=$(openssl speed -seconds "$seconds" rsa2048 ecdsap256 2>/dev/null)
openssl_rsa=$(awk '/^rsa 2048 bits/ {sum += $NF; n++} END {printf "%.0f", sum / n}' <<<"$before"$'\n'"$after")
openssl_ec=$(awk '/ecdsa \(nistp256\)/ {sum += $NF; n++} END {printf "%.0f", sum / n}' <<<"$before"$'\n'"$after")
rs=$(awk '/^rs256_uncached_per_s/ {print $2}' <<<"$ours")
rs_signature=$(awk '/^rs256_signature_only_per_s/ {print $2}' <<<"$ours")
es=$(awk '/^es256_uncached_per_s/ {print $2}' <<<"$ours")
cached=$(awk '/^cached_ns/ {print $2}' <<<"$ours")
echo "$(sed -n 1p <<<"$ours"); openssl speed -seconds $seconds before and after, mean; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-28s %12s %14s %8s\n' "path" "mcp-authz/s" "openssl verify/s" "ratio"
printf '%-28s %12s %14s %8.2f\n' "RS256 uncached (full check)" "$rs" "$openssl_rsa" "$(bc -l <<<"$rs / $openssl_rsa")"
printf '%-28s %12s %14s %8.2f\n' "RS256 signature only" "$rs_signature" "$openssl_rsa" "$(bc -l <<<"$rs_signature / $openssl_rsa")"
printf '%-28s %12s %14s %8.2f\n' "ES256 uncached (full check)" "$es" "$openssl_ec" "$(bc -l <<<"$es / $openssl_ec")"
echo "cached token path: ${cached} ns per request (SHA-256 of the token + lookup)"
echo "goal: RS256 ratio >= 0.60"
