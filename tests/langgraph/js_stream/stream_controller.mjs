// Two turns on one thread through the JS SDK's StreamController (what @langchain/react's
// useStream is built on): each `submit`'s events (every event once, from `thread.onEvent`),
// the reply's text as the root store showed it while it grew, and the messages at the end;
// then a second controller hydrating the thread, as a page opened later would.
// Usage: node stream_controller.mjs <apiUrl> <first message> <second message>
import { Client } from "@langchain/langgraph-sdk";
import { StreamController } from "@langchain/langgraph-sdk/stream";
import { deadline, recorded, text, texts, turnIsWhole, until } from "./events.mjs";

deadline(90);
const [apiUrl, ...messages] = process.argv.slice(2);
const client = new Client({ apiUrl });
const controller = new StreamController({ client, assistantId: "chat" });

let events = [];
let shown = [];
controller.subscribeThread((thread) => thread?.onEvent((event) => events.push(recorded(event))));
controller.rootStore.subscribe(() => {
  const last = controller.rootStore.getSnapshot().messages.at(-1);
  const reply = last?.type === "ai" ? text(last.content) : null;
  if (reply && reply !== shown.at(-1)) shown.push(reply);
});

function shows(state) {
  const now = texts(controller.rootStore.getSnapshot().messages);
  return now.length === state.length && now.every((text, i) => text === state[i]);
}

const turns = [];
for (const message of messages) {
  events = [];
  shown = [];
  await controller.submit({ messages: [{ type: "human", content: message }] });
  // `submit` settles on the run's end, which the lifecycle watcher's stream can bring before
  // the content stream's last events; and the store takes them a macrotask later. Shown is
  // what the store holds once it has the run's final state (or after a while, if never).
  await until(() => turnIsWhole(events));
  const state = texts(events.findLast((event) => event.method === "values").data.messages);
  await until(() => shows(state), 10);
  const snapshot = controller.rootStore.getSnapshot();
  turns.push({
    events,
    shown,
    messages: texts(snapshot.messages),
    error: snapshot.error ? String(snapshot.error) : null,
  });
}
const threadId = controller.rootStore.getSnapshot().threadId;
await controller.dispose();

const later = new StreamController({ client, assistantId: "chat", threadId });
await later.hydrationPromise;
const hydrated = texts(later.rootStore.getSnapshot().messages);
await later.dispose();

console.log(JSON.stringify({ thread_id: threadId, turns, hydrated }));
