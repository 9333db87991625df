// Reading a reply's event stream, and opening it again where it broke off. EventSource can
// neither POST nor send the API key, so streams are read by hand: events are blocks of
// `field: value` lines ending with a blank line; lines starting with ":" are comments (the
// server's pings).

/** The server could not be reached, or the connection broke during a reply. */
export class ConnectionLost extends Error {}

// How long to wait before each new try at a stream whose connection broke: a few tries in a few
// seconds ride out a network blip, and a server that is gone is said to be so soon enough.
const RETRY_DELAYS_MS = [0, 1000, 3000];

/**
 * The events of `response`'s stream, each as {name, data, id}. When the connection breaks, the
 * stream goes on from `reopen(lastEventId)`, a response with the events after the last one read:
 * none is lost or read twice. `closedAtEnd`: whether a stream that closes cleanly has ended, or
 * broke off before its last event all the same.
 */
export async function* resumable(response, { reopen, signal, closedAtEnd }) {
  let lastId = null;
  let tries = 0;
  for (;;) {
    let broken;
    try {
      for await (const event of serverSentEvents(response.body, signal)) {
        lastId = event.id ?? lastId;
        tries = 0;
        yield event;
      }
      if (closedAtEnd) return;
      broken = new ConnectionLost("the reply stopped before its end");
    } catch (error) {
      if (!(error instanceof ConnectionLost)) throw error;
      broken = error;
    }
    response = null;
    while (response === null) {
      if (lastId === null || tries === RETRY_DELAYS_MS.length) throw broken;
      await pause(RETRY_DELAYS_MS[tries++], signal);
      try {
        response = await reopen(lastId);
      } catch (error) {
        if (!(error instanceof ConnectionLost)) throw error;
        broken = error;
      }
    }
  }
}

function pause(ms, signal) {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const stopped = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stopped);
      resolve();
    }, ms);
    signal.addEventListener("abort", stopped, { once: true });
  });
}

async function* serverSentEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  // A response fetched before there was a reply to stop (api.runningReply's) stops with it too.
  const stop = () => reader.cancel();
  signal.addEventListener("abort", stop, { once: true });
  let buffer = "";
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (error.name === "AbortError") throw error;
        throw new ConnectionLost(error.message);
      }
      signal.throwIfAborted();
      if (chunk.done) return;
      buffer += chunk.value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

function parseEvent(block) {
  let name = "message";
  let id;
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")), id } : null;
}
