// Who holds a folder and which devices: each folder's Members panel (roles, removing a member)
// and the Devices panel of this account (naming this device, removing a lost one). What the
// relay refuses (not an owner, the last owner) is shown in its own words.
import { useEffect, useState } from "preact/hooks";
import { getJson, html, idOf, post } from "./lib.js";
import { when } from "./words.js";

const ROLES = ["owner", "editor", "viewer"];

/** A device for people: its name, else its short id, and "this device" for the one running this. */
function deviceLabel(d) {
  const label = d.name ? `${d.name} (${d.short})` : `device ${d.short}`;
  return d.current ? `${label} · this device` : label;
}

/** Loads `path` while `open`, again whenever `reload` changes; keeps the last problem apart. */
function useLoaded(open, path, params, reload) {
  const [answer, setAnswer] = useState(null);
  const [problem, setProblem] = useState("");
  useEffect(() => {
    if (!open) return;
    let live = true;
    getJson(path, params).then(
      (a) => live && (setAnswer(a), setProblem("")),
      (e) => live && setProblem(e.message),
    );
    return () => {
      live = false;
    };
  }, [open, reload]);
  return { answer, problem };
}

/** "Remove X?" with what it does, and the buttons to go on or not. */
function Confirm({ question, yes, onYes, onNo, busy }) {
  return html`<div class="confirm" role="group" aria-label=${question}>
    <p>${question}</p>
    <div class="actions">
      <button type="button" class="danger" disabled=${busy} onClick=${onYes}>${yes}</button>
      <button type="button" disabled=${busy} onClick=${onNo}>Cancel</button>
    </div>
  </div>`;
}

function Member({ m, you, act, busy }) {
  const [confirming, setConfirming] = useState(false);
  const owner = you.role === "owner";
  const self = m.user === you.user;
  return html`<li class="member">
    <div class="row">
      <span class="user">${m.user}${self ? " (you)" : ""}</span>
      ${
        owner
          ? html`<select
              aria-label=${`Role of ${m.user}`}
              disabled=${busy}
              value=${m.role}
              onChange=${(e) =>
                act(
                  "/api/members/role",
                  { user: m.user, role: e.currentTarget.value },
                  `${m.user} is now ${e.currentTarget.value}`,
                )}
            >
              ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}
            </select>`
          : html`<span class="role">${m.role}</span>`
      }
      ${
        owner &&
        !self &&
        !confirming &&
        html`<button type="button" disabled=${busy} onClick=${() => setConfirming(true)}>
          Remove…
        </button>`
      }
    </div>
    <ul class="member-devices" aria-label=${`Devices of ${m.user}`}>
      ${
        m.devices.length === 0
          ? html`<li class="muted">No device holds the key</li>`
          : m.devices.map((d) => html`<li key=${d.deviceId} class="device">${deviceLabel(d)}</li>`)
      }
    </ul>
    ${
      confirming &&
      html`<${Confirm}
        question=${`Remove ${m.user} from this folder? They are cut off at once and the folder's key changes, so they cannot read what is written from now on. They keep the copy they have.`}
        yes=${`Remove ${m.user}`}
        busy=${busy}
        onYes=${() =>
          act(
            "/api/members/remove",
            { user: m.user },
            `Removed ${m.user}; the folder's key changed`,
          )}
        onNo=${() => setConfirming(false)}
      />`
    }
  </li>`;
}

/**
 * An owner's invite: a role, then the one-time invite to copy and send. It is shown once, kept
 * only in this panel until it closes, and the agent never writes it anywhere.
 */
function Invite({ folder, announce }) {
  const [role, setRole] = useState("editor");
  const [invite, setInvite] = useState("");
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState("");
  const roleId = `invite-role-${idOf(folder.folderId)}`;
  const make = async (e) => {
    e.preventDefault();
    setBusy(true);
    setFailed("");
    try {
      const answer = await post("/api/members/invite", { folder: folder.folderId, role });
      setInvite(answer.invite);
      announce(`Made a one-time invite for a new ${role}`);
    } catch (error) {
      setFailed(error.message);
    } finally {
      setBusy(false);
    }
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(invite);
      announce("Copied the invite");
    } catch {
      announce("Could not copy: select the invite and copy it");
    }
  };
  return html`<form class="invite" onSubmit=${make}>
    <div class="row">
      <label for=${roleId}>Invite someone as</label>
      <select id=${roleId} value=${role} onChange=${(e) => setRole(e.currentTarget.value)}>
        <option value="editor">editor</option>
        <option value="viewer">viewer</option>
      </select>
      <button type="submit" disabled=${busy}>Make an invite</button>
    </div>
    ${failed && html`<p class="error" role="alert">${failed}</p>`}
    ${
      invite &&
      html`<p class="muted">
          Send this over a channel you trust: it works once, for 7 days, and holds what opens the
          folder. It is not shown again.
        </p>
        <div class="row">
          <textarea
            readonly
            rows="3"
            aria-label="The invite"
            value=${invite}
            onFocus=${(e) => e.currentTarget.select()}
          ></textarea>
          <button type="button" onClick=${copy}>Copy</button>
        </div>`
    }
  </form>`;
}

/** A folder's members and their devices; an owner changes roles and removes members here. */
export function Members({ folder, announce }) {
  const [open, setOpen] = useState(false);
  const [reload, setReload] = useState(0);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState("");
  const { answer, problem } = useLoaded(open, "/api/members", { folder: folder.folderId }, reload);
  const act = async (path, body, done) => {
    setBusy(true);
    setFailed("");
    try {
      await post(path, { folder: folder.folderId, ...body });
      announce(done);
    } catch (error) {
      setFailed(error.message);
      announce(`Refused: ${error.message}`);
    } finally {
      setBusy(false);
      setReload((n) => n + 1);
    }
  };
  const labelId = `members-${idOf(folder.folderId)}`;
  return html`<details class="members" onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary><h3 id=${labelId}>Members</h3></summary>
    ${problem && html`<p class="error" role="alert">Can't list the members: ${problem}</p>`}
    ${failed && html`<p class="error" role="alert">${failed}</p>`}
    ${!answer && !problem && html`<p class="muted">Loading members…</p>`}
    ${
      answer &&
      html`${
          answer.you.role !== "owner" &&
          html`<p class="muted">
            ${`You are ${answer.you.role ?? "no longer a member"} here: only an owner can change roles or remove members.`}
          </p>`
        }
        ${
          answer.rotationDue &&
          html`<p class="warn">
            A key change is due: an owner's device makes it when it next syncs.
          </p>`
        }
        ${answer.you.role === "owner" && html`<${Invite} folder=${folder} announce=${announce} />`}
        <ul class="member-list" aria-labelledby=${labelId} aria-busy=${busy}>
          ${answer.members.map(
            (m) =>
              html`<${Member} key=${m.user} m=${m} you=${answer.you} act=${act} busy=${busy} />`,
          )}
        </ul>`
    }
  </details>`;
}

function Rename({ account, device, act, busy }) {
  const [name, setName] = useState(device.name ?? "");
  const inputId = `name-${idOf(account.relay)}`;
  return html`<form
    class="row"
    onSubmit=${(e) => {
      e.preventDefault();
      act(
        "/api/devices/name",
        { relay: account.relay, name },
        `This device is now called ${name.trim()}`,
      );
    }}
  >
    <label for=${inputId}>Name of this device</label>
    <input
      id=${inputId}
      type="text"
      maxlength="64"
      required
      value=${name}
      onInput=${(e) => setName(e.currentTarget.value)}
    />
    <button type="submit" disabled=${busy || name.trim() === ""}>Rename</button>
  </form>`;
}

function Device({ account, d, act, busy }) {
  const [confirming, setConfirming] = useState(false);
  const removed = d.removed !== null;
  return html`<li class=${removed ? "device-card muted" : "device-card"}>
    <div class="row">
      <span class="device">${deviceLabel(d)}</span>
      <span class="muted">
        ${removed ? `removed ${when(d.removed)}` : `added ${when(d.created)}`}
      </span>
      ${
        !removed &&
        !d.current &&
        !confirming &&
        html`<button type="button" disabled=${busy} onClick=${() => setConfirming(true)}>
          Remove…
        </button>`
      }
    </div>
    ${d.current && html`<${Rename} account=${account} device=${d} act=${act} busy=${busy} />`}
    ${
      confirming &&
      html`<${Confirm}
        question=${`Remove ${deviceLabel(d)}? It is signed out at once and cannot sign in again, and the folders it held get a new key. Its files stay on it.`}
        yes="Remove the device"
        busy=${busy}
        onYes=${() =>
          act(
            "/api/devices/remove",
            { relay: account.relay, device: d.deviceId },
            `Removed ${deviceLabel(d)}`,
          )}
        onNo=${() => setConfirming(false)}
      />`
    }
  </li>`;
}

/** This device's accounts and their devices: name this one, remove a lost one. */
export function Devices({ announce }) {
  const [open, setOpen] = useState(false);
  const [reload, setReload] = useState(0);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState("");
  const { answer, problem } = useLoaded(open, "/api/devices", {}, reload);
  const act = async (path, body, done) => {
    setBusy(true);
    setFailed("");
    try {
      const result = await post(path, body);
      const owed = (result.folders ?? []).filter((f) => f.pending);
      announce(
        owed.length > 0 ? `${done}; ${owed.length} folder keys change when an owner syncs` : done,
      );
    } catch (error) {
      setFailed(error.message);
      announce(`Refused: ${error.message}`);
    } finally {
      setBusy(false);
      setReload((n) => n + 1);
    }
  };
  const several = answer && answer.accounts.length > 1;
  return html`<section class="card" aria-labelledby="devices-heading">
    <details class="devices" onToggle=${(e) => setOpen(e.currentTarget.open)}>
      <summary><h2 id="devices-heading">Devices</h2></summary>
      ${problem && html`<p class="error" role="alert">Can't list the devices: ${problem}</p>`}
      ${failed && html`<p class="error" role="alert">${failed}</p>`}
      ${!answer && !problem && html`<p class="muted">Loading devices…</p>`}
      ${answer && answer.accounts.length === 0 && html`<p class="muted">Not logged in to a relay.</p>`}
      ${
        answer &&
        answer.accounts.map(
          (a) =>
            html`<div key=${a.relay} class="account">
              ${several && html`<h3>${`${a.user} on ${a.relay}`}</h3>`}
              ${a.error && html`<p class="error" role="alert">${a.error}</p>`}
              <ul aria-label=${`Devices of ${a.user}`} aria-busy=${busy}>
                ${a.devices.map(
                  (d) =>
                    html`<${Device}
                      key=${d.deviceId}
                      account=${a}
                      d=${d}
                      act=${act}
                      busy=${busy}
                    />`,
                )}
              </ul>
            </div>`,
        )
      }
    </details>
  </section>`;
}
