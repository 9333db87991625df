// What the page tells the user: a notice in the status line, a problem in the alert, and the
// errors of the API explained in words.

import * as api from "./api.js";
import { ui } from "./page.js";

export function explain(error, { started = false } = {}) {
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

export function showProblem(text) {
  ui.problem.textContent = text;
}

export function notify(text) {
  ui.notice.textContent = text;
}

export function clearMessages() {
  showProblem("");
  notify("");
}
