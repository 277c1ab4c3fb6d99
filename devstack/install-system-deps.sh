#!/usr/bin/env bash
# System packages the local stack and the browser tests need, installed once from Debian's
# packages when missing: a JDK and Maven (Kafka), Chromium (payment-page tests); with --bench
# also Go (the benchmarks' HTTP load generator).
set -euo pipefail
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
