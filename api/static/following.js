// Following the reply being written as a conversation opens (after a reload, or on a page other
// than the one it was sent from): it shows and streams in as if it were sent from here.

import * as api from "./api.js";
import { renderVersion, scrollToEnd } from "./conversation.js";
import { EMPTY_HINT, state, ui } from "./page.js";
import { receive, startReply } from "./replies.js";
import { messageElement } from "./render.js";

/** Shows the reply being written in session `id`, from `response` (api.runningReply's): the
 * user's message, the reply growing, Stop, and at its end the session's versions read again. */
export function followReply(id, response) {
  const reply = startReply(id);
  const view = state.view;
  const answer = messageElement("assistant", "", "streaming");
  const sending = { text: null, from: null, shown: state.leaf, user: null, answer, reply };
  EMPTY_HINT.remove();
  ui.log.append(answer);
  scrollToEnd();
  // Screen readers announce the reply once it is whole, not token by token.
  ui.log.setAttribute("aria-busy", "true");

  async function onMessage(text, runId) {
    const from = await runsFrom(id, runId);
    if (view !== state.view) return;
    if (from !== null) {
      // A reply regenerated, or an edit: what goes before it is the version up to `from`.
      sending.from = from;
      state.leaf = from;
      renderVersion();
      EMPTY_HINT.remove();
      ui.log.append(answer);
    }
    // A reply regenerated answers the message shown last; any other, the message it brings.
    const last = state.branches.conversation(state.leaf).at(-1)?.message;
    if (from === null || last?.type !== "human") {
      sending.text = text;
      sending.user = messageElement("user", text);
      answer.before(sending.user);
    }
  }

  return receive(sending, async (streaming) => {
    answer.dataset.id = await api.readReply(id, response, { ...streaming, onMessage });
    return true;
  });
}

/** The checkpoint the run goes on from, when a page started it from one (api.runFrom) that this
 * page knows; null for the session's latest version. */
async function runsFrom(id, runId) {
  try {
    const from = (await api.getRun(id, runId)).metadata?.from_checkpoint;
    return state.branches?.has(from) ? from : null;
  } catch {
    // Then the reply shows after the latest version; its end shows the versions the server kept.
    return null;
  }
}
