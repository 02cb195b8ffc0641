#!/usr/bin/env bash
# Installs the Debian packages the browser tests and the benchmarks drive: chromium (the
# dashboard test and npm run test:browser, through playwright-core), syncthing and rsync (the
# baselines bench:sync, bench:latency and bench:delta measure Weft against), faketime
# (libfaketime: agent-daemon-timing.test.ts moves a daemon's wall clock), prometheus (for
# promtool: relay-metrics.test.ts checks the relay's live /metrics and the alert rules in
# deploy/prometheus). Idempotent: does nothing when they are already there.
set -euo pipefail
packages=(chromium syncthing rsync faketime prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "system packages present: ${packages[*]}"
  exit 0
fi
echo "installing ${missing[*]} (Debian packages)"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
