// Sending a message and streaming its reply in: from the message box, again for the latest
// reply (regenerate), or from an edit.

import * as api from "./api.js";
import { scrollToEnd } from "./conversation.js";
import { EMPTY_HINT, state, ui } from "./page.js";
import { receive, startReply } from "./replies.js";
import { messageElement } from "./render.js";
import { addSessions, sessionTitle } from "./sessions.js";

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
function streamReply({ text, from, keep = null, written = null }) {
  const reply = startReply(state.sessionId);
  const view = state.view;
  const user = text === null ? null : messageElement("user", text);
  const answer = messageElement("assistant", "", "streaming");
  const sending = { text, from, shown: state.leaf, user, answer, reply, written };
  return receive(sending, async (streaming) => {
    const id = await sessionForSending(view);
    reply.sessionId = id;
    // Stopped before it was sent: the message simply stays in the box.
    if (view !== state.view || reply.controller.signal.aborted) return false;
    EMPTY_HINT.remove();
    if (keep !== null) {
      for (const shown of [...ui.log.querySelectorAll(".message")].slice(keep)) shown.remove();
    }
    ui.log.append(...(user ? [user, answer] : [answer]));
    if (written === "box") ui.message.value = "";
    scrollToEnd();
    // Screen readers announce the reply once it is whole, not token by token.
    ui.log.setAttribute("aria-busy", "true");
    if (from === null) answer.dataset.id = await api.sendMessage(id, text, streaming);
    else await api.runFrom(id, from, text, streaming);
    return true;
  });
}
