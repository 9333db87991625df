// The chat page: the sessions list, one conversation, and the message box. This module starts
// it: the API key prompt, and each event wired to what it does. The page has no other script.

import * as api from "./api.js";
import { showVersion } from "./conversation.js";
import { cancelEdit, onEditKey, startEdit } from "./editing.js";
import { deleteShownSession, openFromHash, startNewConversation } from "./navigation.js";
import { state, ui } from "./page.js";
import { stopByUser } from "./replies.js";
import { regenerate, send, sendEdit } from "./sending.js";
import { loadSessions, setSidebar } from "./sessions.js";

const NARROW = window.matchMedia("(max-width: 720px)");

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

function onMessageKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  } else if (event.key === "Escape" && state.reply) {
    stopByUser();
  }
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
