// Which conversation the page shows: the session in the URL fragment, a new conversation, or
// none once the session shown is deleted.

import * as api from "./api.js";
import { loadVersions, rememberTitle, showConversation } from "./conversation.js";
import { clearMessages, explain, notify, showProblem } from "./notices.js";
import { state, ui } from "./page.js";
import { followReply } from "./following.js";
import { stopReply } from "./replies.js";
import { renderSessions } from "./sessions.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function startNewConversation() {
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
  let running = null;
  try {
    // The reply being written is asked for before the versions: should it end in between, the
    // versions hold it, and it shows once all the same when its end reads them again.
    running = await api.runningReply(id);
    const branches = await loadVersions(id);
    if (view === state.view) {
      rememberTitle(id, branches);
      showConversation(id, branches);
    }
  } catch (error) {
    running?.body.cancel();
    running = null;
    if (view !== state.view) return;
    if (error instanceof api.ApiError && error.status === 404) {
      history.replaceState(null, "", location.pathname + location.search);
      showConversation(null);
    }
    showProblem(`This conversation could not be opened. ${explain(error)}`);
  } finally {
    if (view === state.view) ui.log.removeAttribute("aria-busy");
  }
  if (running === null) return;
  // One reply streams at a time: a message sent while the conversation opened comes first.
  if (view === state.view && !state.reply) followReply(id, running);
  else running.body.cancel();
}

export function openFromHash() {
  const id = location.hash.slice(1);
  if (!UUID.test(id)) {
    if (state.sessionId !== null) startNewConversation();
  } else if (id !== state.sessionId) {
    openSession(id);
  }
}

export async function deleteShownSession() {
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
