// A folder's ignore rules: its .weftignore, shown and saved from the page. The file lives in the
// folder and syncs to every device; a save against text another device has changed since is
// refused by the agent rather than written over it.
import { useEffect, useState } from "preact/hooks";
import { getJson, html, idOf, post } from "./lib.js";

/** The Ignore rules panel: the folder's .weftignore in a text box, and the built-in rules. */
export function IgnoreRules({ folder, announce }) {
  const [open, setOpen] = useState(false);
  const [loaded, setLoaded] = useState(null);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState("");
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  useEffect(() => {
    if (!open) return;
    let live = true;
    getJson("/api/ignore", { folder: folder.folderId }).then(
      (a) => live && (setLoaded(a), setText(a.text), setProblem("")),
      (e) => live && setProblem(e.message),
    );
    return () => {
      live = false;
    };
  }, [open, reload]);
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setProblem("");
    try {
      await post("/api/ignore", { folder: folder.folderId, text, previous: loaded.text });
      setLoaded({ ...loaded, text });
      announce(`Saved the ignore rules of ${folder.name}; they go to every device`);
    } catch (error) {
      setProblem(error.message);
    } finally {
      setBusy(false);
    }
  };
  const boxId = `ignore-${idOf(folder.folderId)}`;
  return html`<details class="ignore" onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary><h3>Ignore rules</h3></summary>
    ${problem && html`<p class="error" role="alert">${problem}</p>`}
    ${!loaded && !problem && html`<p class="muted">Loading…</p>`}
    ${
      loaded &&
      html`<form onSubmit=${save}>
        <label for=${boxId}>
          .weftignore (gitignore patterns, one a line; shared by every device of the folder)
        </label>
        <textarea
          id=${boxId}
          rows="6"
          spellcheck="false"
          value=${text}
          onInput=${(e) => setText(e.currentTarget.value)}
        ></textarea>
        <div class="row">
          <button type="submit" disabled=${busy || text === loaded.text}>Save</button>
          <button type="button" disabled=${busy} onClick=${() => setReload((n) => n + 1)}>
            Reload
          </button>
        </div>
        <p class="muted">${`Always ignored: ${loaded.defaults.join("  ")}`}</p>
      </form>`
    }
  </details>`;
}
