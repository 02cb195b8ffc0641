// The notes in a web page: the same notes.mjs as the command line, with the browser's WebSocket
// and the replica's state and sealed chunks in IndexedDB (@weft/browser). The relay is this
// page's own origin: serve.mjs puts it behind /v1, as a site's reverse proxy would.
import { IndexedDbBlobStore, IndexedDbStateStore } from "@weft/browser";
import { openNotes } from "../notes.mjs";

const $ = (id) => document.getElementById(id);
const showError = (error) => ($("error").textContent = error.message);

/** One IndexedDB database per device: this example makes a new device each time it opens. */
async function openStores({ deviceId }) {
  const name = `weft-notes-${deviceId}`;
  return {
    state: await IndexedDbStateStore.open(name),
    blobs: await IndexedDbBlobStore.open(name),
  };
}

function render(notes) {
  const list = $("list");
  list.replaceChildren(
    ...notes.notes().map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
  $("here").textContent = notes.present().join(", ") || "nobody else";
}

$("open").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const invite = String(form.get("invite")).trim();
  openNotes({
    relay: location.origin,
    user: String(form.get("user")),
    password: String(form.get("password")),
    ...(invite ? { invite } : {}),
    openStores,
    onError: showError,
  }).then((notes) => {
    $("open").hidden = true;
    $("notes").hidden = false;
    notes.onChange(() => render(notes));
    render(notes);
    $("add").addEventListener("submit", (e) => {
      e.preventDefault();
      notes.add(String(new FormData(e.target).get("text")));
      e.target.reset();
    });
    $("make-invite").addEventListener("click", () => {
      notes.invite().then((text) => ($("invite").textContent = text), showError);
    });
    addEventListener("pagehide", () => void notes.close());
  }, showError);
});
