/**
 * Test helpers for web pages: a page built with Vite and served on 127.0.0.1 with a relay behind
 * it on the same origin (the relay sends no CORS headers, so a page reaches it as a site's
 * reverse proxy would arrange: `/v1` on the page's own origin, WebSocket included).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Alias, type PreviewServer, build, preview } from "vite";
import { pickFreePort } from "./free-port.js";

/**
 * @automerge/automerge's "browser" entry imports its .wasm as an ES module, which Vite cannot
 * without a plugin; its base64 entry loads in any page.
 */
export const AUTOMERGE_BASE64_ALIAS: Alias = {
  find: /^@automerge\/automerge$/,
  // The "node" entry's sibling: this module runs in Node, where "@automerge/automerge" resolves
  // to entrypoints/fullfat_node.js.
  replacement: fileURLToPath(
    import.meta.resolve("@automerge/automerge").replace(/fullfat_node\.js$/, "fullfat_base64.js"),
  ),
};

/** A built page being served; see {@link startPageServer}. */
export interface PageServer {
  /** `http://127.0.0.1:PORT/`: the page; `/v1/…` on it reaches the relay. */
  readonly url: string;
  /** Stops serving and removes the build. */
  close(): Promise<void>;
}

/** Options of {@link startPageServer}. */
export interface PageServerOptions {
  /** The page's folder: its `index.html` and the modules that loads. */
  root: string;
  /** The relay's URL (`http://127.0.0.1:PORT`), proxied at `/v1`. */
  relay: string;
  /** Import names mapped to files, e.g. the workspace packages to their sources. */
  alias?: Record<string, string>;
  /** The port to serve on (default: a free one). */
  port?: number;
}

/**
 * Builds the page at `root` for browsers (Vite, unminified so that stack traces are readable) and
 * serves the build with `relay` behind `/v1`. The build fails if anything it bundles imports a
 * Node built-in other than node:crypto, which @weft/crypto loads only if it is there.
 */
export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const outDir = await mkdtemp(join(tmpdir(), "weft-page-"));
  const alias: Alias[] = [
    AUTOMERGE_BASE64_ALIAS,
    ...Object.entries(options.alias ?? {}).map(([find, replacement]) => ({ find, replacement })),
  ];
  let server: PreviewServer | undefined;
  try {
    await build({
      root: options.root,
      configFile: false,
      // Not "warn": Rolldown reports its plugin timings as a warning on every build.
      logLevel: "error",
      resolve: { alias },
      build: { outDir, emptyOutDir: true, minify: false, target: "es2022" },
      plugins: [noNodeBuiltins()],
    });
    const port = options.port ?? (await pickFreePort());
    server = await preview({
      root: options.root,
      configFile: false,
      logLevel: "warn",
      build: { outDir },
      preview: {
        host: "127.0.0.1",
        port,
        strictPort: true,
        proxy: { "/v1": { target: options.relay, ws: true } },
      },
    });
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    throw error;
  }
  const running = server;
  return {
    url: `http://127.0.0.1:${port(running)}/`,
    close: async () => {
      await running.close();
      await rm(outDir, { recursive: true, force: true });
    },
  };
}

function port(server: PreviewServer): number {
  const address = server.httpServer.address();
  if (address === null || typeof address === "string")
    throw new Error("the page server has no port");
  return address.port;
}

/** A Vite plugin that fails the build when a bundled module imports a Node built-in. */
function noNodeBuiltins(): {
  name: string;
  enforce: "pre";
  resolveId(id: string, importer?: string): null;
} {
  const builtins = new Set(builtinModules);
  return {
    name: "weft-no-node-builtins",
    enforce: "pre",
    resolveId(id, importer) {
      const bare = id.startsWith("node:") ? id.slice(5) : id;
      if (bare !== "crypto" && builtins.has(bare.split("/")[0] ?? bare))
        throw new Error(`${importer ?? "the page"} imports ${id}, which a browser does not have`);
      return null;
    },
  };
}
