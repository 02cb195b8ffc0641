#!/usr/bin/env node
// npm run demo — a relay and two agents ("laptop" and "desktop") on two folders under a temp
// directory. The laptop writes a few files; watch them arrive on the desktop, with each agent's
// live status. Ctrl-C stops everything cleanly and removes the temp directory.
//
// Uses the built packages (npm run demo builds first). Everything is real: the relay process,
// two `weft sync` daemons, end-to-end encryption; only the two "devices" share one machine.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { clearInterval, setInterval } from "node:timers";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const weftCli = join(root, "packages/node-agent/dist/cli/main.js");
const relayCli = join(root, "packages/relay/dist/cli.js");
const base = await mkdtemp(join(tmpdir(), "weft-demo-"));
const children = [];
let stopping = false;

const say = (line) => process.stdout.write(`${line}\n`);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/** A device: its home and folder, and `weft` run as it. */
function device(name) {
  const home = join(base, name, "home");
  const folder = join(base, name, "folder");
  const env = { ...process.env, WEFT_HOME: home, WEFT_PASSWORD: `${name}-demo-password` };
  const weft = (args, input) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [weftCli, ...args, "--json"], {
        env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("close", (code) =>
        code === 0
          ? resolve(JSON.parse(out))
          : reject(new Error(`weft ${args.join(" ")}: ${err.trim()}`)),
      );
      child.stdin.end(input ?? "");
    });
  const daemon = () => {
    const child = spawn(process.execPath, [weftCli, "sync"], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.push(child);
    return child;
  };
  return { name, home, folder, weft, daemon };
}

async function startRelay() {
  const child = spawn(process.execPath, [relayCli, "--port", "0", "--data", join(base, "relay")], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info" },
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the relay exited with ${code}`)));
    lines.on("line", (line) => {
      const url = JSON.parse(line).url;
      if (url) resolve(url);
    });
  });
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  say("\nstopping: the agents and the relay get SIGTERM …");
  await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", resolve);
          c.kill("SIGTERM");
          setTimeout(() => c.kill("SIGKILL"), 5000).unref();
        }),
    ),
  );
  await rm(base, { recursive: true, force: true });
  say(`stopped; removed ${base}`);
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

async function listing(dir) {
  const out = [];
  const walk = async (rel) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path);
      else if (!e.name.startsWith(".weft-tmp-")) out.push(path);
    }
  };
  await walk("");
  return out.sort();
}

try {
  say(`weft demo — everything lives in ${base}`);
  const relay = await startRelay();
  say(`relay        ${relay}  ${dim("(stores ciphertext only)")}`);
  const laptop = device("laptop");
  const desktop = device("desktop");
  for (const d of [laptop, desktop]) {
    await mkdir(d.folder, { recursive: true });
    const { deviceId } = await d.weft(["init"]);
    await d.weft(["account", "register", "--relay", relay, "--user", d.name]);
    say(`${d.name.padEnd(12)} device ${deviceId}, folder ${d.folder}`);
  }
  const { folderId } = await laptop.weft(["folder", "create", laptop.folder]);
  const { invite } = await laptop.weft(["folder", "invite", folderId]);
  await desktop.weft(["folder", "join", "-", desktop.folder], invite);
  say(`shared folder ${folderId}: laptop invited desktop (another account)\n`);
  laptop.daemon();
  desktop.daemon();

  const files = [
    ["hello.txt", "Hello from the laptop.\n"],
    ["notes/ideas.md", "# Ideas\n\n- sync without trusting the server\n"],
    ["notes/todo.md", "- [ ] try weft on two real machines\n"],
    ["photos/pixel.bin", "x".repeat(300_000)],
  ];
  let next = 0;
  const writer = setInterval(async () => {
    if (next >= files.length) return clearInterval(writer);
    const [path, content] = files[next++];
    await mkdir(join(laptop.folder, path, ".."), { recursive: true });
    await writeFile(join(laptop.folder, path), content);
    say(`laptop   wrote   ${path}`);
  }, 1500);

  const seen = new Set();
  setInterval(async () => {
    for (const path of await listing(desktop.folder))
      if (!seen.has(path)) {
        seen.add(path);
        const bytes = (await readFile(join(desktop.folder, path))).length;
        say(`desktop  got     ${path} (${bytes} bytes)`);
      }
    const status = async (d) => {
      const s = JSON.parse(
        await readFile(join(d.home, "folders", folderId, "status.json"), "utf8").catch(() => "{}"),
      );
      if (!s.state) return `${d.name}: starting`;
      const peers = (s.peers ?? []).filter((p) => p.online).length;
      return `${d.name}: ${s.state === "idle" && s.connection === "online" && s.pendingOut === 0 && s.pendingChunks === 0 ? "in sync" : s.state === "idle" ? "pending" : s.state}, ${s.files} files, ${s.pendingOut} to send, ${peers} peer online`;
    };
    if (process.stdout.isTTY)
      process.stdout.write(
        dim(`\r${await status(laptop)} | ${await status(desktop)}   (Ctrl-C stops)`) + "\x1b[K\r",
      );
  }, 500);
} catch (error) {
  process.stderr.write(`demo: ${error.message}\n`);
  await stop(1);
}
