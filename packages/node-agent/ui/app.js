// The Weft dashboard: follows the agent's state over server-sent events and renders a card per folder.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html } from "./lib.js";
import { AddFolder } from "./add-folder.js";
import { Devices } from "./members.js";
import { FolderCard } from "./view.js";
import { ago } from "./words.js";

/** The event stream's state: the page says plainly when the agent is out of reach. */
function useAgentState() {
  const [state, setState] = useState(null);
  const [link, setLink] = useState("connecting");
  useEffect(() => {
    const events = new EventSource("/api/events");
    events.addEventListener("state", (e) => {
      setState(JSON.parse(e.data));
      setLink("open");
    });
    // EventSource retries by itself after a dropped connection; CLOSED means it gave up (the
    // agent stopped, or restarted with a new token).
    events.onerror = () =>
      setLink(events.readyState === EventSource.CLOSED ? "closed" : "retrying");
    return () => events.close();
  }, []);
  return { state, link };
}

function LinkBanner({ link, state }) {
  if (link === "open") return null;
  const text =
    link === "closed"
      ? "The agent stopped, or started again with a new link. Run weft ui to get the current link."
      : link === "retrying"
        ? `Lost contact with the agent${state ? ` (last news ${ago(state.time)})` : ""}; trying again…`
        : "Connecting to the agent…";
  return html`<p class=${`banner ${link === "closed" ? "error" : "busy"}`} role="alert">
    ${text}
  </p>`;
}

function App() {
  const { state, link } = useAgentState();
  const [message, setMessage] = useState("");
  useEffect(() => {
    if (!message) return;
    const timer = setTimeout(() => setMessage(""), 8000);
    return () => clearTimeout(timer);
  }, [message]);
  return html`<header class="top">
      <h1>Weft</h1>
      ${state && html`<p class="muted">This device: <span class="device">${state.device.short}</span></p>`}
    </header>
    <main>
      <${LinkBanner} link=${link} state=${state} />
      <p class="announce" role="status" aria-live="polite">${message}</p>
      ${
        state &&
        (state.folders.length === 0
          ? html`<p>
              No folders yet. Add one below, or with <code>weft folder create PATH</code>.
            </p>`
          : state.folders.map(
              (f) => html`<${FolderCard} key=${f.folderId} folder=${f} announce=${setMessage} />`,
            ))
      }
      ${state && html`<${AddFolder} announce=${setMessage} />`}
      ${state && html`<${Devices} announce=${setMessage} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById("app"));
