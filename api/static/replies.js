// A reply streaming in, whoever sent it: the Stop button, the answer growing, and its end (the
// session's versions read again) or why it failed; and stopping it.

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
import { appendText, markMessage } from "./render.js";
import { renderSessions, sessionTitle } from "./sessions.js";

function setStreaming(on) {
  const focused = document.activeElement;
  // A button that goes away takes the focus with it: it goes to the message box instead.
  const leaving = focused === ui.send || focused === ui.stop || (on && ui.log.contains(focused));
  if (leaving) ui.message.focus();
  ui.send.disabled = on;
  ui.stop.hidden = !on;
  ui.log.classList.toggle("replying", on);
}

/** A reply on its way in, to session `sessionId` (null until it is created): what Stop acts on. */
export function startReply(sessionId) {
  clearMessages();
  const reply = {
    controller: new AbortController(),
    stoppedByUser: false,
    sessionId,
    runId: null, // known with the reply's first event
    cancelled: false, // once stopped: whether its run was cancelled (a promise)
  };
  state.reply = reply;
  setStreaming(true);
  return reply;
}

/**
 * Streams `sending.reply` into `sending.answer`: `stream(streaming)` reads it with the handlers
 * api.js takes, and resolves to false if it was never sent. `sending` also holds what a failure
 * needs: the user's message `text` and its element `user` (null when there is none), `from` (the
 * checkpoint the reply goes on from, or null), `shown` (the version shown before it), and
 * `written` ("box", "edit", or null when the message was not written on this page).
 */
export async function receive(sending, stream) {
  const { reply, answer } = sending;
  const view = state.view;
  const streaming = {
    signal: reply.controller.signal,
    onRun(runId) {
      reply.runId = runId;
    },
    onToken(content) {
      const follow = nearEnd();
      appendText(answer, content);
      if (follow) scrollToEnd();
    },
  };
  try {
    if (!(await stream(streaming))) return;
    // Done once the versions are read again: until then the page takes no new message.
    await showLatest(reply.sessionId, view);
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

function restoreDraft(text) {
  const typed = ui.message.value;
  ui.message.value = typed.trim() ? `${text}\n\n${typed}` : text;
}

function replyFailed(error, sending) {
  const { text, from, shown, user, answer, reply, written } = sending;
  if (error.name === "AbortError" && reply.stoppedByUser) {
    replyStopped(sending);
    return;
  }
  const started = answer.dataset.text !== "";
  // Until the message shows in the conversation, it is still where it was written.
  const taken = user?.isConnected;
  if (from !== null) {
    // A run from a checkpoint stores nothing when it fails: the version shown is as it was.
    state.leaf = shown;
    renderVersion();
  } else if (started) {
    if (user) markMessage(user, "failed", "Not saved.");
    markMessage(answer, "failed", "This reply broke off and was not saved.");
  } else {
    answer.remove();
    // Written on another page (or before a reload), the message has no box to go back to.
    if (written) user.remove();
    else if (user) markMessage(user, "failed", "Not saved.");
    if (!ui.log.querySelector(".message")) ui.log.append(EMPTY_HINT);
  }
  if (taken && written === "box") restoreDraft(text);
  else if (taken && written === "edit") editAgain(text);
  const again = written ? " Your message is back in the box, ready to send again." : "";
  showProblem(`${explain(error, { started })}${again}`);
}

function replyStopped({ user, answer, reply }) {
  markMessage(answer, "stopped", "Stopped.");
  forgetVersions();
  const view = state.view;
  Promise.resolve(reply.cancelled).then((cancelled) => {
    if (view !== state.view) return;
    if (!cancelled) {
      notify("Reply stopped. The server may still finish it: reopen the session to see what it kept.");
      return;
    }
    if (user?.isConnected) markMessage(user, "failed", "Not saved.");
    notify("Reply stopped. Nothing of it was kept.");
  });
}

/** The reply is no longer read (the page moves on): the server goes on with it. */
export function stopReply() {
  state.reply?.controller.abort();
}

/** Stop: the reply is no longer read, and its run is cancelled once the page knows it. */
export function stopByUser() {
  const reply = state.reply;
  if (!reply) return;
  reply.stoppedByUser = true;
  if (reply.runId !== null) {
    reply.cancelled = api.cancelRun(reply.sessionId, reply.runId).then(
      () => true,
      () => false,
    );
  }
  stopReply();
}
