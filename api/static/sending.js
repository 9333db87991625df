// Sending a message and streaming its reply in: from the message box, again for the latest
// reply (regenerate), or from an edit; and stopping a reply.

import * as api from "./api.js";
import {
  forgetVersions,
  loadVersions,
  nearEnd,
  rememberTitle,
  renderVersion,
  scrollToEnd,
} from "./conversation.js";
import { editAgain } from "./editing.js";
import { clearMessages, explain, notify, showProblem } from "./notices.js";
import { EMPTY_HINT, state, ui } from "./page.js";
import { appendText, markMessage, messageElement } from "./render.js";
import { addSessions, renderSessions, sessionTitle } from "./sessions.js";

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

export function send() {
  const text = ui.message.value;
  if (state.reply || text.trim() === "") return;
  // From an older version, the message goes on from it: a new version, and the latest.
  const older = state.branches && state.leaf !== state.branches.head;
  streamReply({ text, from: older ? state.leaf : null, written: "box" });
}

export function regenerate(button) {
  const keep = ui.log.querySelectorAll(".message").length - 1;
  streamReply({ text: null, from: button.dataset.from, keep });
}

export function sendEdit(form) {
  const text = form.querySelector("textarea").value;
  if (state.reply || text.trim() === "") return;
  const message = form.closest(".message");
  const keep = [...ui.log.querySelectorAll(".message")].indexOf(message);
  streamReply({ text, from: form.dataset.from, keep, written: "edit" });
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
    // Done once the versions are read again: until then the page takes no new message.
    await showLatest(id, view);
    answer.dataset.state = "done";
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
    renderVersion();
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
    renderVersion();
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

export function stopReply() {
  state.reply?.controller.abort();
}

export function stopByUser() {
  if (!state.reply) return;
  state.reply.stoppedByUser = true;
  stopReply();
}
