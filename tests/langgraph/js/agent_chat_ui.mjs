// Agent Chat UI's calls to a LangGraph server, made through the JS SDK at the version it pins
// (@langchain/langgraph-sdk 1.8.10): what its useStream hook sends, in the order it sends it.
// Usage: node agent_chat_ui.mjs <server url> [api key]. Prints one JSON document of what came back.
import { randomUUID } from "node:crypto";
import { Client } from "@langchain/langgraph-sdk";

const [apiUrl, apiKey] = process.argv.slice(2);
const client = new Client({ apiUrl, apiKey: apiKey ?? null });
const ASSISTANT = "chat";

async function stream(threadId, text, checkpoint) {
  const events = [];
  const messageId = randomUUID();
  let runId = null;
  try {
    for await (const part of client.runs.stream(threadId, ASSISTANT, {
      input: {
        messages: [{ id: messageId, type: "human", content: [{ type: "text", text }] }],
      },
      streamMode: ["values", "updates", "messages-tuple", "custom"],
      streamSubgraphs: true,
      streamResumable: true,
      onDisconnect: "continue",
      checkpoint,
      onRunCreated: (run) => {
        runId = run.run_id;
      },
    })) {
      events.push({ event: part.event, data: part.data });
    }
    return { runId, messageId, events };
  } catch (error) {
    const status = error.status ?? null;
    return { runId, messageId, events, error: { status, message: String(error) } };
  }
}

function head(history) {
  // As useStream does: the newest state's checkpoint, without its thread id.
  const { thread_id: _threadId, ...checkpoint } = history[0].checkpoint;
  return checkpoint;
}

const headers = apiKey ? { "X-Api-Key": apiKey } : {};
const info = await fetch(`${apiUrl}/info`, { headers });
const search = { metadata: { graph_id: ASSISTANT }, limit: 100, offset: 0 };
const found = await client.threads.search(search);
const thread = await client.threads.create({ metadata: {} });
const first = await stream(thread.thread_id, "Hi, my name is Bob!");
const history = await client.threads.getHistory(thread.thread_id, { limit: 10 });
const second = await stream(thread.thread_id, "What's my name again?", head(history));
const after = await client.threads.getHistory(thread.thread_id, { limit: 10 });
// Regenerate, as the UI's button does: the same question again from the checkpoint before it.
const regenerate = await stream(thread.thread_id, "What's my name again?", head(history));
const searched = await client.threads.search(search);

console.log(
  JSON.stringify({
    info: { ok: info.ok, status: info.status },
    found: found.map((t) => t.thread_id),
    thread,
    first,
    history,
    second,
    after,
    regenerate,
    searched: searched.filter((t) => t.thread_id === thread.thread_id),
  }),
);
