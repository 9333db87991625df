// The chat API as the page uses it: requests with the API key, and replies read as SSE.
// A module, so strict mode holds throughout.

const KEY_STORAGE = "chat-server.api-key";

/** The server answered with an error status; `detail` is its {"detail": ...} in words. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** The server could not be reached, or the connection broke during a reply. */
export class ConnectionLost extends Error {}

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
  return response.status === 204 ? null : response.json();
}

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
  return json(`/chat/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
}

/**
 * Sends `text` and calls `onToken(content)` for each token of the reply as it arrives.
 * Resolves to the saved reply's id; rejects with ApiError before the reply starts,
 * ReplyCutOff or ConnectionLost after, or an AbortError when `signal` stops it.
 */
export async function sendMessage(sessionId, text, { signal, onToken }) {
  const response = await request(`/chat/${encodeURIComponent(sessionId)}`, {
    method: "POST",
    body: text,
    signal,
    headers: { Accept: "text/event-stream", "Content-Type": "text/plain; charset=utf-8" },
  });
  if (!response.ok) throw await failure(response);
  for await (const event of serverSentEvents(response.body)) {
    if (event.name === "token") onToken(event.data.content);
    else if (event.name === "end") return event.data.message_id;
    else if (event.name === "error") throw new ReplyCutOff(event.data.message);
  }
  throw new ConnectionLost("the reply stopped before its end");
}

/** The session's states across every version, newest first: the latest `limit` of them. */
export function getHistory(sessionId, limit) {
  return json(`/threads/${encodeURIComponent(sessionId)}/history`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ limit }),
  });
}

/**
 * A run of the LangGraph API from checkpoint `from`: with `text` a new user message, without it
 * the model's answer again. Calls `onToken(content)` as the reply arrives, and fails as
 * sendMessage does. It becomes the session's latest version.
 */
export async function runFrom(sessionId, from, text, { signal, onToken }) {
  const run = {
    assistant_id: "chat",
    checkpoint: { checkpoint_id: from },
    stream_mode: ["messages-tuple"],
  };
  if (text !== null) run.input = { messages: [{ type: "human", content: text }] };
  const response = await request(`/threads/${encodeURIComponent(sessionId)}/runs/stream`, {
    method: "POST",
    body: JSON.stringify(run),
    signal,
    headers: { Accept: "text/event-stream", "Content-Type": "application/json" },
  });
  if (!response.ok) throw await failure(response);
  for await (const event of serverSentEvents(response.body)) {
    if (event.name === "messages") onToken(chunkText(event.data[0].content));
    else if (event.name === "error") throw new ReplyCutOff(event.data.message);
  }
  // A run's stream has no last event of its own: it ends when the turn is saved.
}

/** The text of a chunk's content: a string, or a list of blocks. */
function chunkText(content) {
  if (!Array.isArray(content)) return String(content ?? "");
  return content.map((block) => (block?.type === "text" ? block.text : "")).join("");
}

// EventSource cannot POST, so the stream is read by hand: events are blocks of `field: value`
// lines ending with a blank line; lines starting with ":" are comments (the server's pings).
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ConnectionLost(error.message);
    }
    if (chunk.done) return;
    buffer += chunk.value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}
