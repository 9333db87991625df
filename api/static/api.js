// The chat API as the page uses it: requests with the API key, and replies read as SSE.
// A module, so strict mode holds throughout.

import { ConnectionLost, resumable } from "./sse.js";

export { ConnectionLost };

const KEY_STORAGE = "chat-server.api-key";

/** The server answered with an error status; `detail` is its {"detail": ...} in words. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** The reply failed midway: the server sent `event: error`. */
export class ReplyCutOff extends Error {}

let askForKey = async () => null;
let pendingKey = null;

/** `ask(rejected)` shows the key prompt and resolves to a key, or null when the user declines. */
export function setKeyPrompt(ask) {
  askForKey = ask;
}

function newKey(rejected) {
  // Requests refused together share one prompt.
  pendingKey ??= askForKey(rejected).finally(() => {
    pendingKey = null;
  });
  return pendingKey;
}

/** fetch() with the stored API key, asking for a key (again) whenever the server answers 401. */
async function request(path, init = {}) {
  for (;;) {
    const sentKey = sessionStorage.getItem(KEY_STORAGE);
    const headers = new Headers(init.headers);
    if (sentKey !== null) headers.set("Authorization", `Bearer ${sentKey}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ConnectionLost(error.message);
    }
    if (response.status !== 401) return response;
    if (sessionStorage.getItem(KEY_STORAGE) !== sentKey) continue; // another prompt just answered
    const key = await newKey(sentKey !== null);
    if (key === null) throw new ApiError(401, "an API key is needed");
    sessionStorage.setItem(KEY_STORAGE, key);
  }
}

async function failure(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    // FastAPI's validation errors are a list of {msg}; the API's own are a sentence.
    detail = Array.isArray(body.detail) ? body.detail.map((p) => p.msg).join("; ") : body.detail;
  } catch {
    // Not JSON (a proxy's error page, say): the status text will do.
  }
  return new ApiError(response.status, detail);
}

async function json(path, init) {
  const response = await request(path, init);
  if (!response.ok) throw await failure(response);
  const body = await response.text();
  return body === "" ? null : JSON.parse(body);
}

/** An event stream the server answers with an ok status, whose events are yet to be read. */
async function eventStream(path, init) {
  const headers = { Accept: "text/event-stream", ...init.headers };
  const response = await request(path, { ...init, headers });
  if (!response.ok) throw await failure(response);
  return response;
}

const chatPath = (sessionId) => `/chat/${encodeURIComponent(sessionId)}`;
const threadPath = (sessionId) => `/threads/${encodeURIComponent(sessionId)}`;
const runPath = (sessionId, runId) => `${threadPath(sessionId)}/runs/${encodeURIComponent(runId)}`;

export function listSessions(cursor) {
  const query = new URLSearchParams({ limit: "20" });
  if (cursor) query.set("cursor", cursor);
  return json(`/chat?${query}`);
}

export async function createSession() {
  const body = await json("/chat", { method: "POST", headers: { Accept: "application/json" } });
  return body.session_id;
}

export function deleteSession(sessionId) {
  return json(chatPath(sessionId), { method: "DELETE" });
}

/**
 * Sends `text` and calls `onToken(content)` for each token of the reply as it arrives, and
 * `onRun(runId)` once the reply's run is known. Resolves to the saved reply's id; rejects with
 * ApiError before the reply starts, ReplyCutOff or ConnectionLost after, or an AbortError when
 * `signal` stops it. A connection that breaks midway is opened again after the last event read.
 */
export async function sendMessage(sessionId, text, handlers) {
  const response = await eventStream(chatPath(sessionId), {
    method: "POST",
    body: text,
    signal: handlers.signal,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
  return readReply(sessionId, response, handlers);
}

/** The reply being written in the session now, from its start, to read with readReply; null
 * when none is. */
export async function runningReply(sessionId) {
  const response = await eventStream(`${chatPath(sessionId)}/stream`, {});
  return response.status === 204 ? null : response;
}

/**
 * Reads a reply as sendMessage does, from `response` (sendMessage's or runningReply's). The
 * stream from its start says first what the user sent: `onMessage(content, runId)`, awaited
 * before the reply's tokens are read.
 */
export async function readReply(sessionId, response, { signal, onMessage, onRun, onToken }) {
  const reopen = (lastId) =>
    eventStream(`${chatPath(sessionId)}/stream`, { signal, headers: { "Last-Event-ID": lastId } });
  let runId = null;
  for await (const event of resumable(response, { reopen, signal, closedAtEnd: false })) {
    // Every event's id is `<run id>/<position>`.
    if (runId === null && event.id) {
      runId = event.id.slice(0, event.id.lastIndexOf("/"));
      onRun?.(runId);
    }
    if (event.name === "message") await onMessage?.(event.data.content, runId);
    else if (event.name === "token") onToken(event.data.content);
    else if (event.name === "end") return event.data.message_id;
    else if (event.name === "error") throw new ReplyCutOff(event.data.message);
  }
  throw new ConnectionLost("the reply stopped before its end");
}

/** The session's states across every version, newest first: the latest `limit` of them. */
export function getHistory(sessionId, limit) {
  return json(`${threadPath(sessionId)}/history`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ limit }),
  });
}

/**
 * A run of the LangGraph API from checkpoint `from`: with `text` a new user message, without it
 * the model's answer again. Calls `onRun` and `onToken` as the reply arrives, resumes and fails
 * as sendMessage does. It becomes the session's latest version.
 */
export async function runFrom(sessionId, from, text, { signal, onRun, onToken }) {
  const run = {
    assistant_id: "chat",
    checkpoint: { checkpoint_id: from },
    stream_mode: ["messages-tuple"],
    // A page that opens the session while it runs shows it after the version it goes on from.
    metadata: { from_checkpoint: from },
  };
  if (text !== null) run.input = { messages: [{ type: "human", content: text }] };
  const response = await eventStream(`${threadPath(sessionId)}/runs/stream`, {
    method: "POST",
    body: JSON.stringify(run),
    signal,
    headers: { "Content-Type": "application/json" },
  });
  let runId = null;
  const reopen = (lastId) =>
    eventStream(`${runPath(sessionId, runId)}/stream`, {
      signal,
      headers: { "Last-Event-ID": lastId },
    });
  // A run's stream has no last event of its own: it ends when the turn is saved.
  for await (const event of resumable(response, { reopen, signal, closedAtEnd: true })) {
    if (event.name === "metadata") {
      runId = event.data.run_id;
      onRun?.(runId);
    } else if (event.name === "messages") {
      onToken(chunkText(event.data[0].content));
    } else if (event.name === "error") {
      throw new ReplyCutOff(event.data.message);
    }
  }
}

/** One of the session's runs, as GET /threads/{id}/runs/{run_id} describes it. */
export function getRun(sessionId, runId) {
  return json(runPath(sessionId, runId));
}

/** Stops a run wherever it runs: nothing of it is kept. */
export function cancelRun(sessionId, runId) {
  return json(`${runPath(sessionId, runId)}/cancel`, { method: "POST" });
}

/** The text of a chunk's content: a string, or a list of blocks. */
function chunkText(content) {
  if (!Array.isArray(content)) return String(content ?? "");
  return content.map((block) => (block?.type === "text" ? block.text : "")).join("");
}
