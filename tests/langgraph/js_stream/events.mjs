// What the scripts here print: a protocol event as the client handed it over, and a message's
// text whichever form its content takes (a string, or content blocks).

export function recorded(event) {
  return {
    event_id: event.event_id,
    seq: event.seq,
    method: event.method,
    namespace: event.params.namespace,
    data: event.params.data,
  };
}

export function text(content) {
  if (typeof content === "string") return content;
  return (content ?? []).map((block) => (block.type === "text" ? block.text : "")).join("");
}

export function isRunEnd(event) {
  return (
    event.method === "lifecycle" &&
    event.params.namespace.length === 0 &&
    ["completed", "failed", "interrupted"].includes(event.params.data.event)
  );
}

// langgraph dev writes a reply it has just made with `contentBlocks` in place of `content`.
export function texts(messages) {
  return messages.map((message) => text(message.content ?? message.contentBlocks));
}

// Fails the script (and so the test) instead of letting it wait for its caller's deadline.
export function deadline(seconds) {
  setTimeout(() => {
    console.error(`no result after ${seconds} s`);
    process.exit(2);
  }, seconds * 1000).unref();
}

// Whether a turn's events are all in, whatever order two streams delivered them in: its root
// end, and the state with the reply (a `values` after the reply's `message-finish`).
export function turnIsWhole(events) {
  const finish = events.find((e) => e.method === "messages" && e.data.event === "message-finish");
  const end = events.find((e) => e.method === "lifecycle" && e.namespace.length === 0 &&
    ["completed", "failed", "interrupted"].includes(e.data.event));
  return Boolean(end) && (end.data.event !== "completed" ||
    (finish !== undefined && events.some((e) => e.method === "values" && e.seq > finish.seq)));
}

// Waits until `condition` holds, or for `seconds` at the most.
export async function until(condition, seconds = 30) {
  const end = Date.now() + seconds * 1000;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}
