#!/usr/bin/env bash
# Installs Weft as a user would, from `npm pack` tarballs into an empty prefix, and uses it:
# weft --version, weft relay on a free port answering /health, and one device (init, register,
# folder create, sync --once) against it. Also checks what the tarballs hold (LICENSE, README,
# no .tsbuildinfo, no tests). Private workspaces (@weft/test-support) are not packed. The
# @weft/sqlite-store quickstart runs on the installed packages (a Replica reopened from its
# SQLite files). Then a Yjs-only app (@weft/core, @weft/crypto and ws from the tarballs, in a
# project of its own) gets no @automerge in node_modules, runs the core quickstart against that
# relay, and is told what to install when it opens an Automerge document.
#
#   bash scripts/pack-install-check.sh          # CI: reuses this checkout's better-sqlite3 build
#   bash scripts/pack-install-check.sh --full   # the whole install, native build included
#
# better-sqlite3 has no prebuilt binary here (its download host is unreachable), so `npm install
# -g` compiles it, once for the relay and once for the agent: minutes on a loaded 2-core machine.
# CI already compiles the same version in `npm ci`; by default this installs with
# --ignore-scripts and copies that binary in (same Node, same version; checked below). --full
# runs the real native build. Needs a built checkout (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
full=0
[[ "${1:-}" == "--full" ]] && full=1

work="$(mktemp -d)"
relay_pid=""
cleanup() {
  if [[ -n "$relay_pid" ]]; then kill "$relay_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)

echo "== pack"
mkdir -p "$work/tarballs"
# The published packages: every workspace but the private ones (@weft/test-support).
mapfile -t published < <(node -e '
  const { workspaces } = require("./package.json");
  for (const w of workspaces) if (!require(`./${w}/package.json`).private) console.log(`--workspace=${w}`);
')
npm pack "${published[@]}" --silent --pack-destination "$work/tarballs" >/dev/null
for t in "$work"/tarballs/*.tgz; do
  list="$(tar -tzf "$t")"
  name="$(basename "$t")"
  for must in package/LICENSE package/README.md package/package.json; do
    grep -qx "$must" <<<"$list" || { echo "$name lacks ${must#package/}"; exit 1; }
  done
  if grep -E '\.tsbuildinfo$|\.test\.[jt]s$|^package/test/' <<<"$list"; then
    echo "$name holds build leftovers or tests (above)"
    exit 1
  fi
done
ls -l "$work/tarballs" | tail -n +2

echo "== install -g into an empty prefix"
prefix="$work/prefix"
flags=(--no-audit --no-fund --prefer-offline --loglevel=error)
[[ $full == 0 ]] && flags+=(--ignore-scripts)
npm install -g --prefix "$prefix" "${flags[@]}" "$work"/tarballs/*.tgz
if [[ $full == 0 ]]; then
  built="$root/node_modules/better-sqlite3"
  want="$(node -p 'require(process.argv[1]).version' "$built/package.json")"
  while IFS= read -r dir; do
    have="$(node -p 'require(process.argv[1]).version' "$dir/package.json")"
    [[ "$have" == "$want" ]] || {
      echo "installed better-sqlite3 $have, built $want: run with --full"
      exit 1
    }
    mkdir -p "$dir/build/Release"
    cp "$built/build/Release/better_sqlite3.node" "$dir/build/Release/"
  done < <(find "$prefix/lib/node_modules" -type d -path '*/node_modules/better-sqlite3')
fi
export PATH="$prefix/bin:$PATH"
install_s=$(($(date +%s) - start))

echo "== use it"
[[ "$(command -v weft)" == "$prefix/bin/weft" ]] || { echo "weft is not the installed one"; exit 1; }
weft --version
weft --help | grep -q "folder create" || { echo "weft --help lists no commands"; exit 1; }
weft-relay --help | grep -q -- "--data" || { echo "weft-relay --help says nothing"; exit 1; }

WEFT_RELAY_LOG_LEVEL=info weft relay --port 0 --data "$work/relay-data" >"$work/relay.log" 2>&1 &
relay_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(grep -o '"url":"[^"]*"' "$work/relay.log" 2>/dev/null | head -1 | cut -d'"' -f4 || true)"
  [[ -n "$url" ]] && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$work/relay.log"; echo "weft relay exited"; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$work/relay.log"; echo "weft relay never said where it listens"; exit 1; }
health="$(node -e 'fetch(process.argv[1] + "/health").then((r) => r.text()).then((t) => console.log(t))' "$url")"
echo "$url/health: $health"
grep -q '"status":"ok"' <<<"$health" || { echo "the relay is not healthy"; exit 1; }

export WEFT_HOME="$work/home" WEFT_PASSWORD="correct-horse-battery"
mkdir -p "$work/folder"
echo "hello" >"$work/folder/hello.txt"
weft init --json >/dev/null
weft account register --relay "$url" --user ana --json >/dev/null
weft folder create "$work/folder" --json >/dev/null
# (--json progress lines go to stderr: kept aside, shown if it fails.)
weft sync --once --timeout 60 --json 2>"$work/sync.err" | grep -q '"folders"' || {
  cat "$work/sync.err"
  echo "sync --once failed"
  exit 1
}
weft folder list | grep -q "$work/folder" || { echo "folder list lacks the folder"; exit 1; }

echo "== the @weft/sqlite-store quickstart on the installed packages"
# Beside the prefix's node_modules, so its imports resolve to the installed tarballs.
cp examples/quickstarts/sqlite-store.mjs "$prefix/lib/sqlite-store-quickstart.mjs"
node "$prefix/lib/sqlite-store-quickstart.mjs" | grep -q '^after reopening: "# Today' || {
  echo "the sqlite-store quickstart failed on the installed packages"
  exit 1
}

echo "== a Yjs-only app: @weft/core + @weft/crypto, no Automerge"
app="$work/yjs-app"
mkdir -p "$app"
cp examples/quickstarts/core.mjs "$app/index.mjs"
echo '{ "name": "yjs-app", "private": true, "type": "module" }' >"$app/package.json"
# --ignore-scripts: nothing here is native. ws (this checkout's version, in npm's cache): Node 20
# has no WebSocket of its own.
ws_version="$(node -p 'require(process.argv[1]).version' "$root/node_modules/ws/package.json")"
(cd "$app" && npm install --ignore-scripts "${flags[@]}" "$work"/tarballs/weft-core-*.tgz \
  "$work"/tarballs/weft-crypto-*.tgz "ws@$ws_version")
if [[ -e "$app/node_modules/@automerge" ]]; then
  echo "a Yjs-only install holds @automerge: $(ls "$app/node_modules/@automerge")"
  exit 1
fi
(cd "$app" && WEFT_RELAY="$url" node index.mjs) | grep -qx "ben sees: hello from ana" || {
  echo "the core quickstart did not sync in the Yjs-only app"
  exit 1
}
(cd "$app" && node --input-type=module -e '
  import { createTestNetwork } from "@weft/core/testing";
  const net = await createTestNetwork({ devices: 1 });
  try {
    await net.replicas[0].automerge("todo");
    throw new Error("opened an Automerge document without @automerge/automerge");
  } catch (error) {
    if (error.code !== "MISSING_DEPENDENCY" || !/install @automerge\/automerge/.test(error.message))
      throw error;
  } finally {
    await net.close();
  }
') || { echo "opening an Automerge document without Automerge gave no clear error"; exit 1; }

kill "$relay_pid"
wait "$relay_pid" || true
relay_pid=""
echo "pack-install-check: ok (install ${install_s}s, all $(($(date +%s) - start))s$([[ $full == 1 ]] && echo ", native build included"))"
