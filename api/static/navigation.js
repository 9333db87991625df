// Which conversation the page shows: the session in the URL fragment, a new conversation, or
// none once the session shown is deleted.

import * as api from "./api.js";
import { loadVersions, rememberTitle, showConversation } from "./conversation.js";
import { clearMessages, explain, notify, showProblem } from "./notices.js";
import { state, ui } from "./page.js";
import { stopReply } from "./sending.js";
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
