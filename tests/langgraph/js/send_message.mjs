// One message sent as Agent Chat UI sends it, through the JS SDK at the version it pins
// (@langchain/langgraph-sdk 1.8.10) with its own retries: a new thread, then one streamed run.
// Usage: node send_message.mjs <server url> <text>. Prints one JSON document of what came back.
import { randomUUID } from "node:crypto";
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, text] = process.argv.slice(2);
const client = new Client({ apiUrl });
const thread = await client.threads.create({ threadId: undefined, metadata: undefined });
const events = [];
let error = null;
try {
  for await (const part of client.runs.stream(thread.thread_id, "chat", {
    input: { messages: [{ id: randomUUID(), type: "human", content: [{ type: "text", text }] }] },
    streamMode: ["values", "messages-tuple", "custom"],
    streamSubgraphs: true,
    streamResumable: true,
    onDisconnect: "continue",
  })) {
    events.push({ event: part.event, data: part.data });
  }
} catch (thrown) {
  error = { status: thrown.status ?? null, message: String(thrown) };
}
const history = await client.threads.getHistory(thread.thread_id, { limit: 10 });
console.log(JSON.stringify({ thread, events, error, history }));
