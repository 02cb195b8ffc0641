// What every part of the page uses: htm bound to Preact, and the agent's JSON API.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);

/** GET a JSON API; throws with the agent's reason. */
export async function getJson(path, params) {
  const r = await fetch(`${path}?${new URLSearchParams(params)}`);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `the agent answered ${r.status}`);
  return body;
}

/** POST a JSON action, with the header that marks it as coming from this page. */
export async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Weft-UI": "1" },
    body: JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.error || `the agent answered ${r.status}`);
  return answer;
}

/** Text made safe for an element id. */
export const idOf = (text) => text.replace(/[^a-zA-Z0-9]/g, "-");
