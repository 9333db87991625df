// The conversation shown, at one of its versions, and switching between its versions.

import * as api from "./api.js";
import { Branches } from "./branches.js";
import { notify } from "./notices.js";
import { EMPTY_HINT, state, ui } from "./page.js";
import { messageActions, messageElement, shownText } from "./render.js";
import { renderSessions, sessionTitle } from "./sessions.js";

// The states of a session read for its versions: about the latest 33 turns.
const HISTORY_LIMIT = 100;
const ROLES = { human: "user", ai: "assistant" };

export function nearEnd() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
}

export function scrollToEnd() {
  ui.log.scrollTop = ui.log.scrollHeight;
}

/** The version of the conversation shown (`state.leaf`), as message elements. */
function versionElements() {
  const { branches, leaf } = state;
  const regenerate = branches.regenerateFrom(leaf);
  const edit = branches.editFrom(leaf);
  const entries = branches.conversation(leaf);
  return entries.flatMap(({ message, versions, version }, index) => {
    const role = ROLES[message.type];
    if (!role) return [];
    const element = messageElement(role, shownText(message));
    element.dataset.id = message.id ?? "";
    const actions = messageActions(role, {
      versions,
      version,
      regenerate: index === entries.length - 1 ? regenerate : null,
      edit: index === edit?.index ? edit.from : null,
    });
    if (actions) element.append(actions);
    return [element];
  });
}

/** Shows `state.leaf`. The messages it shares with what is shown stay as they are, so that a
 * screen reader announces only what changed. */
export function renderVersion() {
  const fresh = versionElements();
  const shown = [...ui.log.querySelectorAll(".message")];
  let kept = 0;
  while (kept < fresh.length && shown[kept]?.isEqualNode(fresh[kept])) kept += 1;
  for (const element of shown.slice(kept)) element.remove();
  if (fresh.length) EMPTY_HINT.remove();
  ui.log.append(...(fresh.length ? fresh.slice(kept) : [EMPTY_HINT]));
}

/** Shows the session `id`, or a new conversation for null, at its latest version. */
export function showConversation(id, branches = null) {
  state.sessionId = id;
  state.branches = branches;
  state.leaf = branches?.head ?? null;
  if (branches) renderVersion();
  else ui.log.replaceChildren(...(id === null ? [EMPTY_HINT] : []));
  ui.title.textContent = id ? sessionTitle(id) : "New conversation";
  ui.deleteSession.hidden = id === null;
  renderSessions();
  scrollToEnd();
}

/** Drops what the page knows of the versions, which may no longer be so: until the session is
 * opened again, no buttons act on them and messages go on from its latest version. */
export function forgetVersions() {
  state.branches = null;
  state.leaf = null;
  for (const actions of ui.log.querySelectorAll(".actions")) actions.remove();
}

export function rememberTitle(id, branches) {
  const first = branches.conversation(branches.head).find((e) => e.message.type === "human");
  if (first) state.titles.set(id, shownText(first.message).trim());
}

export function loadVersions(id) {
  return api.getHistory(id, HISTORY_LIMIT).then((history) => new Branches(history));
}

export function showVersion(button) {
  const messages = [...ui.log.querySelectorAll(".message")];
  const at = messages.indexOf(button.closest(".message"));
  const label = button.getAttribute("aria-label");
  state.leaf = button.dataset.leaf;
  renderVersion();
  // The buttons were drawn anew: focus stays on the same one, or the other once at an end.
  const group = ui.log.querySelectorAll(".message")[at]?.querySelector(".versions");
  if (!group) return;
  const buttons = [...group.querySelectorAll("button")];
  const same = buttons.find((b) => b.getAttribute("aria-label") === label);
  (same.disabled ? buttons.find((b) => !b.disabled) : same)?.focus();
  notify(`Showing version ${group.querySelector("span").textContent}.`);
}
