// The JS SDK's README quick start, with its reader late: `run.start`, then `thread.messages`
// read once the run has ended (as happens when a model answers before the client's event
// stream is open). The projection opens its stream after the run; the thread's events are
// to be replayed to it.
// Usage: node late_reader.mjs <apiUrl> <message>
import { Client } from "@langchain/langgraph-sdk";
import { deadline, texts } from "./events.mjs";

deadline(30);
const [apiUrl, message] = process.argv.slice(2);
const client = new Client({ apiUrl });
const thread = client.threads.stream({ assistantId: "chat" });
await thread.run.start({ input: { messages: [{ role: "user", content: message }] } });

let state;
do {
  await new Promise((resolve) => setTimeout(resolve, 100));
  state = await client.threads.getState(thread.threadId);
} while ((state.values?.messages ?? []).length < 2 || state.next.length > 0);

const tokens = [];
for await (const streamed of thread.messages) {
  for await (const token of streamed.text) tokens.push(token);
  break;
}
await thread.close();
console.log(JSON.stringify({ stored: texts(state.values.messages), tokens }));
