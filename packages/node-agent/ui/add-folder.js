// Adding a folder from the page: create one from a local path, or join one with an invite (into a
// path, or as a member only). The running agent syncs it at once; the invite is sent to the
// agent once and not kept here.
import { useState } from "preact/hooks";
import { html, post } from "./lib.js";

/** What the agent said about a folder just added, for the announcement. */
function added(what, a) {
  if (a.path === null) return `Joined folder ${a.folderId} as ${a.role}; it syncs nowhere here`;
  return a.syncing
    ? `${what} ${a.path}; syncing it now`
    : `${what} ${a.path}, not syncing yet: ${a.problem}`;
}

/** The Add a folder panel: Create and Join. */
export function AddFolder({ announce }) {
  const [createPath, setCreatePath] = useState("");
  const [invite, setInvite] = useState("");
  const [joinPath, setJoinPath] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState("");
  const act = async (e, path, body, what, done) => {
    e.preventDefault();
    setBusy(true);
    setProblem("");
    try {
      announce(added(what, await post(path, body)));
      done();
    } catch (error) {
      setProblem(error.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card add-folder" aria-labelledby="add-folder">
    <details>
      <summary><h2 id="add-folder">Add a folder</h2></summary>
      ${problem && html`<p class="error" role="alert">${problem}</p>`}
      <form
        onSubmit=${(e) =>
          act(e, "/api/folders/create", { path: createPath }, "Created", () => setCreatePath(""))}
      >
        <h3>Create</h3>
        <label for="create-path">Folder on this computer (full path; made if missing)</label>
        <div class="row">
          <input
            id="create-path"
            type="text"
            required
            placeholder="/home/you/shared"
            value=${createPath}
            onInput=${(e) => setCreatePath(e.currentTarget.value)}
          />
          <button type="submit" disabled=${busy}>Create</button>
        </div>
      </form>
      <form
        onSubmit=${(e) =>
          act(e, "/api/folders/join", { invite, path: joinPath }, "Joined into", () => {
            setInvite("");
            setJoinPath("");
          })}
      >
        <h3>Join</h3>
        <label for="join-invite">Invite (weft1:…)</label>
        <textarea
          id="join-invite"
          rows="3"
          required
          spellcheck="false"
          value=${invite}
          onInput=${(e) => setInvite(e.currentTarget.value)}
        ></textarea>
        <label for="join-path"
          >Into (full path; leave empty to be a member without a copy here)</label
        >
        <div class="row">
          <input
            id="join-path"
            type="text"
            value=${joinPath}
            onInput=${(e) => setJoinPath(e.currentTarget.value)}
          />
          <button type="submit" disabled=${busy}>Join</button>
        </div>
      </form>
    </details>
  </section>`;
}
