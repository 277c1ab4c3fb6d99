#!/usr/bin/env bash
# System packages the local stack and the browser tests need, installed once from Debian's
# packages when missing: a JDK and Maven (Kafka), Chromium (payment-page tests), axe-core (npm);
# with --bench also Go (the benchmarks' HTTP load generator).
set -euo pipefail
# axe-core (the accessibility checker the browser tests run in the pages), from npm, once.
AXE_VERSION=4.14.1
AXE=".cache/axe-core-$AXE_VERSION/axe.min.js"
if [ ! -f "$AXE" ] && command -v npm >/dev/null; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar xzf axe-core-*.tgz)
  mkdir -p "$(dirname "$AXE")" && cp "$tmp/package/axe.min.js" "$AXE" && rm -rf "$tmp"
fi
missing=()
command -v java >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v chromium >/dev/null || missing+=(chromium)
if [ "${1:-}" = "--bench" ]; then
  command -v go >/dev/null || missing+=(golang-go)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
