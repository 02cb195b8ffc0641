// The folder card and its panels: state, peers, problems, refused changes, conflicts, history,
// members, activity.
import { useEffect, useState } from "preact/hooks";
import { getJson, html, idOf, post } from "./lib.js";
import { IgnoreRules } from "./ignore.js";
import { Members } from "./members.js";
import { activityVerb, ago, bytes, count, peerSentence, stateSentence, when } from "./words.js";

/** Changes whenever something happens in the folder: lists shown from the API load again then. */
const changed = (folder) =>
  `${folder.status.files}:${folder.activity[0]?.id}:${folder.activity[0]?.count}`;

function Progress({ label, t }) {
  if (!(t.total > t.done)) return null;
  return html`<label class="progress"
    >${label}
    <progress max=${t.total} value=${t.done}>${Math.round((100 * t.done) / t.total)}%</progress>
  </label>`;
}

function Peers({ peers }) {
  if (peers.length === 0) return html`<p class="muted">No other device seen yet.</p>`;
  return html`<ul class="peers" aria-label="Other devices">
    ${peers.map(
      (p) =>
        html`<li key=${p.deviceId}>
          <span class=${`dot ${p.online ? "on" : "off"}`} aria-hidden="true"></span>
          <span class="device">${p.short}</span> <span class="muted">${peerSentence(p)}</span>
        </li>`,
    )}
  </ul>`;
}

/**
 * The folder's log of problems: what did not sync and what was left alone on purpose, newest
 * first, each with when it happened (the agent keeps the last 20; the daemon's log has all).
 */
function Problems({ status }) {
  const [all, setAll] = useState(false);
  // A refused change has its own panel (Refused) for as long as it is kept.
  const told = new Set((status.refused ?? []).map((r) => r.message));
  const newest = status.errors.filter((e) => !told.has(`${e.path}: ${e.message}`)).reverse();
  if (newest.length === 0 && status.clashes.length === 0) return null;
  const shown = all ? newest : newest.slice(0, 5);
  return html`<section>
    <h3>Problems (${newest.length + status.clashes.length})</h3>
    <ul class="problems" aria-label="Problems">
      ${shown.map(
        (e) =>
          html`<li class=${e.level}>
            <span class="verb">${e.level === "error" ? "Not synced" : "Left alone"}</span>
            ${e.path ? html` <span class="path">${e.path}</span>:` : ""} ${e.message}
            <time class="muted" datetime=${new Date(e.time).toISOString()} title=${when(e.time)}>
              ${` · ${when(e.time)} (${ago(e.time)})`}
            </time>
          </li>`,
      )}
      ${status.clashes.map(
        (c) =>
          html`<li class="warning">Names clash on case-insensitive disks: ${c.join(", ")}</li>`,
      )}
    </ul>
    ${
      newest.length > 5 &&
      html`<button type="button" class="link" onClick=${() => setAll(!all)}>
        ${all ? "Show fewer" : `Show all ${newest.length}`}
      </button>`
    }
  </section>`;
}

// htm drops whitespace that contains a line break (and the formatter breaks long lines), so
// sentences that mix words and values are built as one string.
function who(v) {
  return v.mine ? "this device" : `device ${v.short}`;
}

function Conflict({ folderId, c, act }) {
  const all = [c.winner, ...c.copies];
  const mine = all.filter((v) => v.mine);
  const theirs = all.filter((v) => !v.mine);
  // Two versions, one from here: the three plain choices. Otherwise one button per version.
  const simple = all.length === 2 && mine.length === 1;
  const keep = (v, what) => act({ folder: folderId, path: c.path, keep: v.version }, what);
  return html`<li class="conflict">
    <p><span class="path">${c.path}</span> was changed here and on another device.</p>
    <ul class="versions">
      ${all.map(
        (v) =>
          html`<li key=${v.version}>
            ${v === c.winner ? "Shown now" : html`Copy <span class="path">${v.path}</span>`}
            ${` · from ${who(v)} · ${when(v.time)} · ${bytes(v.size)} `}
            ${
              simple
                ? ""
                : html` <button
                    type="button"
                    onClick=${() => keep(v, `Kept the version from ${who(v)} of ${c.path}`)}
                    aria-label=${`Keep this one: the version from ${who(v)}, ${when(v.time)}`}
                  >
                    Keep this one
                  </button>`
            }
          </li>`,
      )}
    </ul>
    <div class="actions">
      ${
        simple &&
        html`<button type="button" onClick=${() => keep(mine[0], `Kept yours of ${c.path}`)}>
            Keep mine
          </button>
          <button type="button" onClick=${() => keep(theirs[0], `Kept theirs of ${c.path}`)}>
            Keep theirs
          </button>`
      }
      <button
        type="button"
        onClick=${() =>
          act({ folder: folderId, path: c.path, keepBoth: true }, `Kept both of ${c.path}`)}
      >
        Keep both
      </button>
    </div>
  </li>`;
}

function Conflicts({ folder, announce }) {
  const [busy, setBusy] = useState(false);
  if (folder.conflicts.length === 0) return null;
  const act = async (body, done) => {
    setBusy(true);
    try {
      await post("/api/resolve", body);
      announce(done);
    } catch (error) {
      announce(`Could not resolve ${body.path}: ${error.message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<section aria-labelledby=${`conflicts-${idOf(folder.folderId)}`}>
    <h3 id=${`conflicts-${idOf(folder.folderId)}`}>Conflicts (${folder.conflicts.length})</h3>
    <ul class="conflicts" aria-busy=${busy}>
      ${folder.conflicts.map(
        (c) => html`<${Conflict} key=${c.path} folderId=${folder.folderId} c=${c} act=${act} />`,
      )}
    </ul>
  </section>`;
}

/**
 * A strong folder's changes made here and refused (the file changed elsewhere first): each kept
 * until written on top of the new version, or dropped (`weft reapply [--discard]`).
 */
function Refused({ folder, announce }) {
  const [busy, setBusy] = useState(false);
  const refused = folder.status.refused ?? [];
  if (refused.length === 0) return null;
  const act = async (r, discard) => {
    setBusy(true);
    try {
      await post("/api/reapply", { folder: folder.folderId, id: r.id, discard });
      announce(discard ? `Dropped your version of ${r.path}` : `Wrote your version of ${r.path}`);
    } catch (error) {
      announce(
        `Could not ${discard ? "drop" : "write"} your version of ${r.path}: ${error.message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  const headingId = `refused-${idOf(folder.folderId)}`;
  return html`<section aria-labelledby=${headingId}>
    <h3 id=${headingId}>Changed elsewhere first (${refused.length})</h3>
    <ul class="conflicts" aria-busy=${busy}>
      ${refused.map(
        (r) =>
          html`<li key=${r.id} class="conflict">
            <p>
              <span class="path">${r.path}</span>
              ${`: ${r.reason}; your version (${r.kind}, ${when(r.at)}) is kept here.`}
            </p>
            <div class="actions">
              <button type="button" disabled=${busy} onClick=${() => act(r, false)}>
                Write mine on top
              </button>
              <button type="button" disabled=${busy} onClick=${() => act(r, true)}>
                Drop mine
              </button>
            </div>
          </li>`,
      )}
    </ul>
  </section>`;
}

function Versions({ folder, path, reload, announce, onRestored }) {
  const [answer, setAnswer] = useState(null);
  const [problem, setProblem] = useState("");
  useEffect(() => {
    setAnswer(null);
    setProblem("");
    getJson("/api/history", { folder: folder.folderId, path }).then(setAnswer, (e) =>
      setProblem(e.message),
    );
  }, [folder.folderId, path, changed(folder), reload]);
  const restore = async (v) => {
    try {
      await post("/api/restore", { folder: folder.folderId, path, version: v.version });
      announce(`Restored ${path} to the version of ${when(v.time)}`);
      onRestored();
    } catch (error) {
      announce(`Could not restore ${path}: ${error.message}`);
    }
  };
  if (problem) return html`<p class="error">${problem}</p>`;
  if (!answer) return html`<p class="muted">Loading versions…</p>`;
  return html`<div class="file-versions">
    <h4>${path}${answer.deleted ? " (deleted)" : ""}</h4>
    ${
      answer.versions.length === 0
        ? html`<p class="muted">No earlier versions.</p>`
        : html`<ol class="versions">
            ${answer.versions.map(
              (v) =>
                html`<li key=${v.version}>
                  ${`${when(v.time)} · ${bytes(v.size)} · from ${who(v)} `}
                  <button
                    type="button"
                    onClick=${() => restore(v)}
                    aria-label=${`Restore the version of ${when(v.time)}, ${bytes(v.size)}`}
                  >
                    Restore
                  </button>
                </li>`,
            )}
          </ol>`
    }
  </div>`;
}

function History({ folder, announce }) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const [files, setFiles] = useState(null);
  const [chosen, setChosen] = useState(null);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    if (!open) return;
    const timer = setTimeout(() => {
      getJson("/api/files", { folder: folder.folderId, q: query }).then(setFiles, () =>
        setFiles({ total: 0, files: [] }),
      );
    }, 200);
    return () => clearTimeout(timer);
  }, [open, query, changed(folder), reload]);
  const inputId = `find-${idOf(folder.folderId)}`;
  return html`<details class="history" onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary><h3>History</h3></summary>
    <label for=${inputId}>Find a file (or type the path of a deleted one)</label>
    <input
      id=${inputId}
      type="search"
      value=${query}
      onInput=${(e) => setQuery(e.currentTarget.value)}
    />
    ${
      files &&
      html`<ul class="files" aria-label="Files">
        ${files.files.map(
          (f) =>
            html`<li key=${f.path}>
              <button
                type="button"
                class="link"
                aria-pressed=${chosen === f.path}
                onClick=${() => setChosen(f.path)}
              >
                ${f.path}
              </button>
              <span class="muted"> ${bytes(f.size)}</span>
              <a
                class="download"
                href=${`/api/download?${new URLSearchParams({ folder: folder.folderId, path: f.path })}`}
                download
                aria-label=${`Download ${f.path}`}
                >download</a
              >
            </li>`,
        )}
        ${
          files.total > files.files.length &&
          html`<li class="muted">and ${count(files.total - files.files.length, "more file")}…</li>`
        }
        ${
          files.total === 0 &&
          query &&
          html`<li class="row">
            No file matches.
            <button type="button" onClick=${() => setChosen(query)}>
              Show the history of “${query}”
            </button>
          </li>`
        }
      </ul>`
    }
    ${
      chosen &&
      html`<${Versions}
        folder=${folder}
        path=${chosen}
        reload=${reload}
        announce=${announce}
        onRestored=${() => setReload((n) => n + 1)}
      />`
    }
  </details>`;
}

function Activity({ events }) {
  const [all, setAll] = useState(false);
  if (events.length === 0) return html`<p class="muted">Nothing has happened yet.</p>`;
  const shown = all ? events : events.slice(0, 8);
  return html`<ol class="activity" aria-label="Recent activity">
      ${shown.map(
        (e) =>
          html`<li key=${e.id} class=${`kind-${e.kind}`}>
            <span class="verb">${activityVerb(e.kind)}</span>
            ${e.path ? html` <span class="path">${e.path}</span>` : ""}
            ${e.detail ? html` <span class="muted">${e.detail}</span>` : ""}
            ${e.count > 1 ? html` <span class="muted">(${e.count} times)</span>` : ""}
            <time class="muted" datetime=${new Date(e.time).toISOString()}>${ago(e.time)}</time>
          </li>`,
      )}
    </ol>
    ${
      events.length > 8 &&
      html`<button type="button" class="link" onClick=${() => setAll(!all)}>
        ${all ? "Show fewer" : `Show all ${events.length}`}
      </button>`
    }`;
}

/** Pause or Resume: the folder's sending and receiving on this device (`weft folder pause|resume`). */
function PauseButton({ folder, announce }) {
  const [busy, setBusy] = useState(false);
  const paused = folder.status.state === "paused";
  const toggle = async () => {
    setBusy(true);
    try {
      await post("/api/pause", { folder: folder.folderId, paused: !paused });
      announce(paused ? `${folder.name} syncs again` : `Paused ${folder.name} on this device`);
    } catch (error) {
      announce(`Could not ${paused ? "resume" : "pause"} ${folder.name}: ${error.message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<button type="button" class="pause" disabled=${busy} onClick=${toggle}>
    ${paused ? "Resume" : "Pause"}
  </button>`;
}

/** One folder's card. */
export function FolderCard({ folder, announce }) {
  const s = folder.status;
  const sentence = stateSentence(s);
  const headingId = `folder-${idOf(folder.folderId)}`;
  return html`<article class="card" aria-labelledby=${headingId}>
    <header>
      <h2 id=${headingId}>${folder.name}</h2>
      <p class="muted path">${folder.path}</p>
    </header>
    <div class="state-row">
      <p class=${`state ${sentence.tone}`}>${sentence.text}</p>
      <${PauseButton} folder=${folder} announce=${announce} />
    </div>
    <${Progress} label="Sending" t=${s.upload} />
    <${Progress} label="Receiving" t=${s.download} />
    <p class="muted">
      ${`${count(s.files, "file")} · sent ${bytes(s.bytesUploaded)} · received ${bytes(s.bytesDownloaded)} · you are ${folder.role} of it`}
    </p>
    <section>
      <h3>Other devices</h3>
      <${Peers} peers=${folder.peers} />
    </section>
    <${Problems} status=${s} />
    <${Refused} folder=${folder} announce=${announce} />
    <${Conflicts} folder=${folder} announce=${announce} />
    <${History} folder=${folder} announce=${announce} />
    <${Members} folder=${folder} announce=${announce} />
    <${IgnoreRules} folder=${folder} announce=${announce} />
    <section>
      <h3>Recent activity</h3>
      <${Activity} events=${folder.activity} />
    </section>
  </article>`;
}
