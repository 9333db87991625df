// The sessions list in the sidebar: newest first, a page at a time.

import * as api from "./api.js";
import { explain, showProblem } from "./notices.js";
import { state, ui } from "./page.js";

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function sessionTitle(id) {
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

export function renderSessions() {
  ui.sessionList.replaceChildren(...state.sessions.map(sessionItem));
  ui.sessionsEmpty.hidden = state.sessions.length > 0;
  ui.olderSessions.hidden = state.nextCursor === null;
}

export function addSessions(sessions) {
  const byId = new Map(state.sessions.map((s) => [s.session_id, s]));
  for (const session of sessions) byId.set(session.session_id, session);
  state.sessions = [...byId.values()].sort(
    (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at),
  );
  renderSessions();
}

export async function loadSessions(cursor = null) {
  try {
    const page = await api.listSessions(cursor);
    state.nextCursor = page.next_cursor;
    addSessions(page.sessions);
  } catch (error) {
    showProblem(`The list of sessions could not be loaded. ${explain(error)}`);
  }
}

export function setSidebar(open) {
  document.body.classList.toggle("sidebar-open", open);
  ui.sidebarToggle.setAttribute("aria-expanded", String(open));
}
