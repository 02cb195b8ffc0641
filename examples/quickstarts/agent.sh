#!/usr/bin/env bash
# The weft agent in ten minutes: two devices (a laptop and a phone; here two WEFT_HOMEs on one
# machine) keep a folder in sync through a relay. Passwords come from WEFT_PASSWORD and invites
# through a pipe, never from argv.
set -euo pipefail
relay="${WEFT_RELAY:-http://127.0.0.1:8787}"
work="$(mktemp -d)"
export WEFT_PASSWORD="correct horse battery staple"
json() { node -p "JSON.parse(require('fs').readFileSync(0, 'utf8')).$1"; }

# The laptop: its keys, an account, a folder with a file in it.
export WEFT_HOME="$work/laptop"
weft init
weft account register --relay "$relay" --user "ana-$RANDOM$RANDOM"
mkdir -p "$work/laptop-folder"
echo "hello from the laptop" >"$work/laptop-folder/hello.txt"
folder_id="$(weft folder create "$work/laptop-folder" --json | json folderId)"
weft sync --once

# The phone: its own keys and account; it joins with a one-time invite made on the laptop.
WEFT_HOME="$work/phone" weft init
WEFT_HOME="$work/phone" weft account register --relay "$relay" --user "ben-$RANDOM$RANDOM"
weft folder invite "$folder_id" --json | json invite |
  WEFT_HOME="$work/phone" weft folder join - "$work/phone-folder"
WEFT_HOME="$work/phone" weft sync --once
cat "$work/phone-folder/hello.txt" # hello from the laptop
rm -rf "$work"
