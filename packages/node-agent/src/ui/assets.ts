/**
 * The page's files: ui/ of this package, and Preact and htm from the installed npm packages, so
 * the dashboard works with no internet and no bundler. Read once at start and served from memory.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One file the server hands out. */
export interface Asset {
  type: string;
  body: Buffer;
}

/** The page's files by URL path, and the CSP source that allows the page's import map. */
export interface Assets {
  files: Map<string, Asset>;
  /** `sha256-…` of the inline import map: the only inline script, and it is data, not code. */
  importMapHash: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

function typeOf(path: string): string {
  return TYPES[path.slice(path.lastIndexOf("."))] ?? "application/octet-stream";
}

/** ui/ beside src/ and dist/ (the same depth from both, so tests and the built CLI agree). */
const UI_DIR = fileURLToPath(new URL("../../ui/", import.meta.url));

/**
 * Where the vendored modules come from. htm's `require` entry is CommonJS; its ES module sits
 * beside it as htm.mjs (the file its `import` export names).
 */
function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    "/vendor/preact.mjs": require.resolve("preact"),
    "/vendor/preact-hooks.mjs": require.resolve("preact/hooks"),
    "/vendor/htm.mjs": join(dirname(require.resolve("htm")), "htm.mjs"),
  };
}

/** The page's own files, by URL path. */
const PAGE_FILES: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/view.js": "view.js",
  "/lib.js": "lib.js",
  "/members.js": "members.js",
  "/ignore.js": "ignore.js",
  "/add-folder.js": "add-folder.js",
  "/words.js": "words.js",
  "/style.css": "style.css",
  "/favicon.svg": "favicon.svg",
};

/** Reads every asset. @throws when one is missing (a broken install: better at start than later) */
export async function loadAssets(): Promise<Assets> {
  const files = new Map<string, Asset>();
  for (const [url, name] of Object.entries(PAGE_FILES))
    files.set(url, { type: typeOf(name), body: await readFile(join(UI_DIR, name)) });
  for (const [url, path] of Object.entries(vendorFiles())) {
    // Drop the source-map comment: the maps are not served, and a 404 for them is noise.
    const text = (await readFile(path, "utf8")).replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "");
    files.set(url, { type: typeOf(path), body: Buffer.from(text) });
  }
  const html = files.get("/")!.body.toString("utf8");
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
  if (!map) throw new Error("ui/index.html has no import map");
  const importMapHash = `sha256-${createHash("sha256").update(map[1]!).digest("base64")}`;
  return { files, importMapHash };
}
