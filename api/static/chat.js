// The chat page: the sessions list, one conversation, and the message box.
// A module, so strict mode holds throughout; the page has no other script.

import * as api from "./api.js";
import { Branches } from "./branches.js";
import {
  appendText,
  editForm,
  markMessage,
  messageActions,
  messageElement,
  shownText,
} from "./render.js";

const $ = (id) => document.getElementById(id);
const ui = {
  sidebarToggle: $("sidebar-toggle"),
  newSession: $("new-session"),
  sessionList: $("session-list"),
  sessionsEmpty: $("sessions-empty"),
  olderSessions: $("older-sessions"),
  title: $("conversation-title"),
  deleteSession: $("delete-session"),
  log: $("conversation"),
  notice: $("notice"),
  problem: $("problem"),
  composer: $("composer"),
  message: $("message"),
  send: $("send"),
  stop: $("stop"),
  deleteDialog: $("delete-dialog"),
  keyDialog: $("key-dialog"),
  keyReason: $("key-dialog-reason"),
  keyInput: $("api-key"),
};
const EMPTY_HINT = ui.log.querySelector(".empty");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NARROW = window.matchMedia("(max-width: 720px)");
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
// The states of a session read for its versions: about the latest 33 turns.
const HISTORY_LIMIT = 100;
const ROLES = { human: "user", ai: "assistant" };

const state = {
  sessionId: null, // the session shown, null for a new conversation not yet sent
  sessions: [], // {session_id, created_at}, newest first
  nextCursor: null,
  titles: new Map(), // session id -> its first message, for the sessions seen on this page
  branches: null, // the versions of the session shown (branches.js), null until read
  leaf: null, // the checkpoint that ends the version shown
  reply: null, // the reply streaming: {controller, stoppedByUser}
  view: 0, // counts switches of conversation, so an answer for one left behind is dropped
};

// --- Words for the user

function explain(error, { started = false } = {}) {
  if (error instanceof api.ReplyCutOff) {
    return started
      ? `The reply broke off (${error.message}), so it was not saved.`
      : `The model failed to answer (${error.message}). Nothing was saved; try again in a moment.`;
  }
  if (error instanceof api.ConnectionLost) {
    return started
      ? "The connection to the server was lost while the reply was arriving, so it was not saved."
      : "The server could not be reached. Check your connection and try again.";
  }
  if (!(error instanceof api.ApiError)) return `Something went wrong on this page: ${error.message}.`;
  switch (error.status) {
    case 401:
      return "This server needs an API key; you will be asked for it again on your next try.";
    case 404:
      return "This session does not exist any more: it may have been deleted. Start a new session.";
    case 413:
      return `The message is too long for this server (${error.detail}). Shorten it and send it again.`;
    case 400:
    case 422:
      return `The server did not accept the message: ${error.detail}.`;
    case 502:
      return `The model failed to answer (${error.detail}). Nothing was saved; try again in a moment.`;
    case 504:
      return "The model took too long to answer. Nothing was saved; try again in a moment.";
    case 503:
      return `The server cannot answer right now (${error.detail}). Try again in a moment.`;
    default:
      return `The server ran into a problem (HTTP ${error.status}: ${error.detail}).`;
  }
}

function showProblem(text) {
  ui.problem.textContent = text;
}

function notify(text) {
  ui.notice.textContent = text;
}

function clearMessages() {
  showProblem("");
  notify("");
}

// --- The sessions list

function sessionTitle(id) {
  return state.titles.get(id) ?? `Session ${id.slice(0, 8)}`;
}

function sessionItem({ session_id: id, created_at: createdAt }) {
  const link = document.createElement("a");
  link.href = `#${id}`;
  if (id === state.sessionId) link.setAttribute("aria-current", "page");
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = sessionTitle(id);
  const time = document.createElement("time");
  time.dateTime = createdAt;
  time.textContent = WHEN.format(new Date(createdAt));
  link.append(title, time);
  const item = document.createElement("li");
  item.append(link);
  return item;
}

function renderSessions() {
  ui.sessionList.replaceChildren(...state.sessions.map(sessionItem));
  ui.sessionsEmpty.hidden = state.sessions.length > 0;
  ui.olderSessions.hidden = state.nextCursor === null;
}

function addSessions(sessions) {
  const byId = new Map(state.sessions.map((s) => [s.session_id, s]));
  for (const session of sessions) byId.set(session.session_id, session);
  state.sessions = [...byId.values()].sort(
    (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at),
  );
  renderSessions();
}

async function loadSessions(cursor = null) {
  try {
    const page = await api.listSessions(cursor);
    state.nextCursor = page.next_cursor;
    addSessions(page.sessions);
  } catch (error) {
    showProblem(`The list of sessions could not be loaded. ${explain(error)}`);
  }
}

function setSidebar(open) {
  document.body.classList.toggle("sidebar-open", open);
  ui.sidebarToggle.setAttribute("aria-expanded", String(open));
}

// --- The conversation

function nearEnd() {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
}

function scrollToEnd() {
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
function render() {
  const fresh = versionElements();
  const shown = [...ui.log.querySelectorAll(".message")];
  let kept = 0;
  while (kept < fresh.length && shown[kept]?.isEqualNode(fresh[kept])) kept += 1;
  for (const element of shown.slice(kept)) element.remove();
  if (fresh.length) EMPTY_HINT.remove();
  ui.log.append(...(fresh.length ? fresh.slice(kept) : [EMPTY_HINT]));
}

/** Shows the session `id`, or a new conversation for null, at its latest version. */
function showConversation(id, branches = null) {
  state.sessionId = id;
  state.branches = branches;
  state.leaf = branches?.head ?? null;
  if (branches) render();
  else ui.log.replaceChildren(...(id === null ? [EMPTY_HINT] : []));
  ui.title.textContent = id ? sessionTitle(id) : "New conversation";
  ui.deleteSession.hidden = id === null;
  renderSessions();
  scrollToEnd();
}

/** Drops what the page knows of the versions, which may no longer be so: until the session is
 * opened again, no buttons act on them and messages go on from its latest version. */
function forgetVersions() {
  state.branches = null;
  state.leaf = null;
  for (const actions of ui.log.querySelectorAll(".actions")) actions.remove();
}

function rememberTitle(id, branches) {
  const first = branches.conversation(branches.head).find((e) => e.message.type === "human");
  if (first) state.titles.set(id, shownText(first.message).trim());
}

function loadVersions(id) {
  return api.getHistory(id, HISTORY_LIMIT).then((history) => new Branches(history));
}

function stopReply() {
  state.reply?.controller.abort();
}

function startNewConversation() {
  stopReply();
  state.view += 1;
  if (location.hash) history.pushState(null, "", location.pathname + location.search);
  clearMessages();
  showConversation(null);
}

async function openSession(id) {
  stopReply();
  const view = ++state.view;
  clearMessages();
  showConversation(id);
  ui.log.setAttribute("aria-busy", "true");
  try {
    const branches = await loadVersions(id);
    if (view !== state.view) return;
    rememberTitle(id, branches);
    showConversation(id, branches);
  } catch (error) {
    if (view !== state.view) return;
    if (error instanceof api.ApiError && error.status === 404) {
      history.replaceState(null, "", location.pathname + location.search);
      showConversation(null);
    }
    showProblem(`This conversation could not be opened. ${explain(error)}`);
  } finally {
    if (view === state.view) ui.log.removeAttribute("aria-busy");
  }
}

function openFromHash() {
  const id = location.hash.slice(1);
  if (!UUID.test(id)) {
    if (state.sessionId !== null) startNewConversation();
  } else if (id !== state.sessionId) {
    openSession(id);
  }
}

// --- Versions: switching, regenerating, editing

function showVersion(button) {
  const messages = [...ui.log.querySelectorAll(".message")];
  const at = messages.indexOf(button.closest(".message"));
  const label = button.getAttribute("aria-label");
  state.leaf = button.dataset.leaf;
  render();
  // The buttons were drawn anew: focus stays on the same one, or the other once at an end.
  const group = ui.log.querySelectorAll(".message")[at]?.querySelector(".versions");
  if (!group) return;
  const buttons = [...group.querySelectorAll("button")];
  const same = buttons.find((b) => b.getAttribute("aria-label") === label);
  (same.disabled ? buttons.find((b) => !b.disabled) : same)?.focus();
  notify(`Showing version ${group.querySelector("span").textContent}.`);
}

function regenerate(button) {
  const keep = ui.log.querySelectorAll(".message").length - 1;
  streamReply({ text: null, from: button.dataset.from, keep });
}

function startEdit(message, from, text = message.dataset.text) {
  const form = editForm(text);
  form.dataset.from = from;
  message.classList.add("editing");
  message.append(form);
  const box = form.querySelector("textarea");
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function cancelEdit(form) {
  const message = form.closest(".message");
  form.remove();
  message.classList.remove("editing");
  message.querySelector('[data-action="edit"]')?.focus();
}

function sendEdit(form) {
  const text = form.querySelector("textarea").value;
  if (state.reply || text.trim() === "") return;
  const message = form.closest(".message");
  const keep = [...ui.log.querySelectorAll(".message")].indexOf(message);
  streamReply({ text, from: form.dataset.from, keep, written: "edit" });
}

/** An edit that failed opens again, with its text, on the message it was to replace. */
function editAgain(text) {
  const button = ui.log.querySelector('[data-action="edit"]');
  if (button) startEdit(button.closest(".message"), button.dataset.from, text);
}

function onConversationClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button || state.reply) return;
  const action = button.dataset.action;
  if (action === "version") showVersion(button);
  else if (action === "regenerate") regenerate(button);
  else if (action === "edit") startEdit(button.closest(".message"), button.dataset.from);
  else if (action === "cancel-edit") cancelEdit(button.closest("form"));
}

function onEditKey(event) {
  if (!event.target.closest("form.edit")) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    event.target.form.requestSubmit();
  } else if (event.key === "Escape") {
    cancelEdit(event.target.form);
  }
}

// --- Sending a message

function setStreaming(on) {
  const focused = document.activeElement;
  // A button that goes away takes the focus with it: it goes to the message box instead.
  const leaving = focused === ui.send || focused === ui.stop || (on && ui.log.contains(focused));
  if (leaving) ui.message.focus();
  ui.send.disabled = on;
  ui.stop.hidden = !on;
  ui.log.classList.toggle("replying", on);
}

function restoreDraft(text) {
  const typed = ui.message.value;
  ui.message.value = typed.trim() ? `${text}\n\n${typed}` : text;
}

async function sessionForSending(view) {
  if (state.sessionId) return state.sessionId;
  const id = await api.createSession();
  if (view === state.view) {
    state.sessionId = id;
    history.pushState(null, "", `#${id}`);
    ui.title.textContent = sessionTitle(id);
    ui.deleteSession.hidden = false;
    addSessions([{ session_id: id, created_at: new Date().toISOString() }]);
  }
  return id;
}

function send() {
  const text = ui.message.value;
  if (state.reply || text.trim() === "") return;
  // From an older version, the message goes on from it: a new version, and the latest.
  const older = state.branches && state.leaf !== state.branches.head;
  streamReply({ text, from: older ? state.leaf : null, written: "box" });
}

/**
 * Streams a reply in. `text`: the user's new message, null for another answer to the last one;
 * `from`: the checkpoint it goes on from, null for the session's latest (or a new session);
 * `keep`: how many of the messages shown stay before it (all when null); `written`: where the
 * message was written, "box" or "edit", for it to go back there if it is not saved.
 */
async function streamReply({ text, from, keep = null, written = null }) {
  clearMessages();
  const reply = { controller: new AbortController(), stoppedByUser: false };
  const view = state.view;
  state.reply = reply;
  setStreaming(true);
  const user = text === null ? null : messageElement("user", text);
  const answer = messageElement("assistant", "", "streaming");
  const sending = { text, from, user, answer, reply, written };
  try {
    const id = await sessionForSending(view);
    // Stopped before it was sent: the message simply stays in the box.
    if (view !== state.view || reply.controller.signal.aborted) return;
    EMPTY_HINT.remove();
    if (keep !== null) {
      for (const shown of [...ui.log.querySelectorAll(".message")].slice(keep)) shown.remove();
    }
    ui.log.append(...(user ? [user, answer] : [answer]));
    if (written === "box") ui.message.value = "";
    scrollToEnd();
    // Screen readers announce the reply once it is whole, not token by token.
    ui.log.setAttribute("aria-busy", "true");
    const streaming = {
      signal: reply.controller.signal,
      onToken(content) {
        const follow = nearEnd();
        appendText(answer, content);
        if (follow) scrollToEnd();
      },
    };
    if (from === null) answer.dataset.id = await api.sendMessage(id, text, streaming);
    else await api.runFrom(id, from, text, streaming);
    answer.dataset.state = "done";
    await showLatest(id, view);
  } catch (error) {
    if (view === state.view) replyFailed(error, sending);
  } finally {
    state.reply = null;
    setStreaming(false);
    if (view === state.view) ui.log.removeAttribute("aria-busy");
  }
}

/** After a reply: the session's versions read again, and its latest shown. */
async function showLatest(id, view) {
  try {
    const branches = await loadVersions(id);
    if (view !== state.view) return;
    state.branches = branches;
    state.leaf = branches.head;
    const follow = nearEnd();
    render();
    if (follow) scrollToEnd();
    rememberTitle(id, branches);
    ui.title.textContent = sessionTitle(id);
    renderSessions();
  } catch (error) {
    if (view !== state.view) return;
    forgetVersions();
    showProblem(`The reply was saved, but its versions could not be read. ${explain(error)}`);
  }
}

function replyFailed(error, { text, from, user, answer, reply, written }) {
  if (error.name === "AbortError" && reply.stoppedByUser) {
    markMessage(answer, "stopped", "Stopped.");
    notify("Reply stopped. The server may still finish it: reopen the session to see what it kept.");
    forgetVersions();
    return;
  }
  const started = answer.dataset.text !== "";
  // Until the message shows in the conversation, it is still where it was written.
  const taken = user?.isConnected;
  if (from !== null) {
    // A run from a checkpoint stores nothing when it fails: the version shown is as it was.
    render();
  } else if (started) {
    markMessage(user, "failed", "Not saved.");
    markMessage(answer, "failed", "This reply broke off and was not saved.");
  } else {
    user.remove();
    answer.remove();
    if (!ui.log.querySelector(".message")) ui.log.append(EMPTY_HINT);
  }
  if (taken && written === "box") restoreDraft(text);
  else if (taken && written === "edit") editAgain(text);
  const again = text === null ? "" : " Your message is back in the box, ready to send again.";
  showProblem(`${explain(error, { started })}${again}`);
}

function stopByUser() {
  if (!state.reply) return;
  state.reply.stoppedByUser = true;
  stopReply();
}

// --- Deleting a session, asking for the API key

async function deleteShownSession() {
  const id = state.sessionId;
  try {
    await api.deleteSession(id);
  } catch (error) {
    if (!(error instanceof api.ApiError && error.status === 404)) {
      showProblem(`The session could not be deleted. ${explain(error)}`);
      return;
    }
  }
  state.sessions = state.sessions.filter((s) => s.session_id !== id);
  state.titles.delete(id);
  if (state.sessionId === id) startNewConversation();
  renderSessions();
  notify("The session was deleted.");
  ui.message.focus();
}

function askForKey(rejected) {
  ui.keyReason.textContent = rejected
    ? "The server did not accept that API key. Enter a valid one."
    : "This server asks for an API key.";
  ui.keyInput.value = "";
  ui.keyDialog.returnValue = "";
  ui.keyDialog.showModal();
  return new Promise((resolve) => {
    const answered = () => {
      const key = ui.keyInput.value.trim();
      resolve(ui.keyDialog.returnValue === "ok" && key ? key : null);
    };
    ui.keyDialog.addEventListener("close", answered, { once: true });
  });
}

// --- Wiring

function onMessageKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  } else if (event.key === "Escape" && state.reply) {
    stopByUser();
  }
}

function onSessionChosen(event) {
  if (!event.target.closest("a") || !NARROW.matches) return;
  setSidebar(false);
  ui.message.focus();
}

function start() {
  api.setKeyPrompt(askForKey);
  // The fragment holds the session id, so the skip link moves focus without touching it.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    ui.message.focus();
  });
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  ui.message.addEventListener("keydown", onMessageKey);
  ui.log.addEventListener("click", onConversationClick);
  ui.log.addEventListener("keydown", onEditKey);
  ui.log.addEventListener("submit", (event) => {
    event.preventDefault();
    sendEdit(event.target);
  });
  ui.stop.addEventListener("click", stopByUser);
  ui.newSession.addEventListener("click", () => {
    startNewConversation();
    setSidebar(false);
    ui.message.focus();
  });
  ui.olderSessions.addEventListener("click", () => loadSessions(state.nextCursor));
  ui.sessionList.addEventListener("click", onSessionChosen);
  ui.sidebarToggle.addEventListener("click", () => {
    setSidebar(!document.body.classList.contains("sidebar-open"));
  });
  ui.deleteSession.addEventListener("click", () => {
    ui.deleteDialog.returnValue = "";
    ui.deleteDialog.showModal();
  });
  ui.deleteDialog.addEventListener("close", () => {
    if (ui.deleteDialog.returnValue === "delete") deleteShownSession();
  });
  // Back and Forward between sessions: either event may come, or both; the second does nothing.
  window.addEventListener("hashchange", openFromHash);
  window.addEventListener("popstate", openFromHash);
  loadSessions();
  openFromHash();
}

start();
