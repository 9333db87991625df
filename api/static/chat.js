// The chat page: the sessions list, one conversation, and the message box.
// A module, so strict mode holds throughout; the page has no other script.

import * as api from "./api.js";
import { appendText, markMessage, messageElement } from "./render.js";

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

const state = {
  sessionId: null, // the session shown, null for a new conversation not yet sent
  sessions: [], // {session_id, created_at}, newest first
  nextCursor: null,
  titles: new Map(), // session id -> its first message, for the sessions seen on this page
  reply: null, // the reply streaming: {controller, stoppedByUser}
  view: 0, // counts switches of conversation, so an answer for one left behind is dropped
};

// --- Words for the user

function explain(error, { started = false } = {}) {
  if (error instanceof api.ReplyCutOff) {
    return `The reply broke off (${error.message}), so it was not saved.`;
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

/** Shows a conversation; `messages` null while it loads. */
function showConversation(id, messages = []) {
  state.sessionId = id;
  const elements = (messages ?? []).map((m) => messageElement(m.role, m.content));
  ui.log.replaceChildren(...(elements.length || messages === null ? elements : [EMPTY_HINT]));
  ui.title.textContent = id ? sessionTitle(id) : "New conversation";
  ui.deleteSession.hidden = id === null;
  renderSessions();
  scrollToEnd();
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
  showConversation(id, null);
  ui.log.setAttribute("aria-busy", "true");
  try {
    const messages = await api.getConversation(id);
    if (view !== state.view) return;
    const first = messages.find((m) => m.role === "user");
    if (first) state.titles.set(id, first.content);
    showConversation(id, messages);
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

// --- Sending a message

function setStreaming(on) {
  const focused = document.activeElement;
  if (focused === ui.send || focused === ui.stop) ui.message.focus();
  ui.send.disabled = on;
  ui.stop.hidden = !on;
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

async function send() {
  const text = ui.message.value;
  if (state.reply || text.trim() === "") return;
  clearMessages();
  const reply = { controller: new AbortController(), stoppedByUser: false };
  const view = state.view;
  state.reply = reply;
  setStreaming(true);
  const user = messageElement("user", text);
  const answer = messageElement("assistant", "", "streaming");
  try {
    const id = await sessionForSending(view);
    // Stopped before it was sent: the message simply stays in the box.
    if (view !== state.view || reply.controller.signal.aborted) return;
    EMPTY_HINT.remove();
    ui.log.append(user, answer);
    ui.message.value = "";
    scrollToEnd();
    // Screen readers announce the reply once it is whole, not token by token.
    ui.log.setAttribute("aria-busy", "true");
    answer.dataset.id = await api.sendMessage(id, text, {
      signal: reply.controller.signal,
      onToken(content) {
        const follow = nearEnd();
        appendText(answer, content);
        if (follow) scrollToEnd();
      },
    });
    answer.dataset.state = "done";
    if (!state.titles.has(id)) {
      state.titles.set(id, text.trim());
      ui.title.textContent = sessionTitle(id);
      renderSessions();
    }
  } catch (error) {
    if (view === state.view) replyFailed(error, { text, user, answer, reply });
  } finally {
    state.reply = null;
    setStreaming(false);
    if (view === state.view) ui.log.removeAttribute("aria-busy");
  }
}

function replyFailed(error, { text, user, answer, reply }) {
  if (error.name === "AbortError" && reply.stoppedByUser) {
    markMessage(answer, "stopped", "Stopped.");
    notify("Reply stopped. The server may still finish it: reopen the session to see what it kept.");
    return;
  }
  const started = answer.dataset.text !== "";
  // Until the message shows in the conversation, it is still in the box.
  if (user.isConnected) restoreDraft(text);
  if (started) {
    markMessage(user, "failed", "Not saved.");
    markMessage(answer, "failed", "This reply broke off and was not saved.");
  } else {
    user.remove();
    answer.remove();
    if (!ui.log.querySelector(".message")) ui.log.append(EMPTY_HINT);
  }
  showProblem(`${explain(error, { started })} Your message is back in the box, ready to send again.`);
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
