// A reply's events read across two replicas of the server: a ThreadStream on the first starts
// the run and reads it until a few tokens are in, then closes; the SDK's SSE transport then
// opens the thread's stream on the second with `since` (the last seq read), and reads to the
// run's end: ThreadStream sends no `since` of its own. Last, the whole run again from the
// second, from the thread's start (since 0).
// Usage: node move_stream.mjs <apiUrl A> <apiUrl B> <message> <tokens to read on A>
import { Client, ProtocolSseTransportAdapter } from "@langchain/langgraph-sdk";
import { deadline, isRunEnd, recorded } from "./events.mjs";

deadline(90);
const [urlA, urlB, message, tokensOnA] = process.argv.slice(2);
const CHANNELS = ["lifecycle", "messages", "values"];

const onA = [];
const thread = new Client({ apiUrl: urlA }).threads.stream({ assistantId: "chat" });
const [started, subscription] = await Promise.all([
  thread.run.start({ input: { messages: [{ role: "user", content: message }] } }),
  thread.subscribe(CHANNELS),
]);
let deltas = 0;
for await (const event of subscription) {
  onA.push(recorded(event));
  if (event.params.data.event === "content-block-delta") deltas += 1;
  if (deltas === Number(tokensOnA) || isRunEnd(event)) break;
}
await thread.close();

async function readOnB(since) {
  const transport = new ProtocolSseTransportAdapter({ apiUrl: urlB, threadId: thread.threadId });
  const stream = transport.openEventStream({ channels: CHANNELS, since });
  const read = [];
  for await (const event of stream.events) {
    read.push(recorded(event));
    if (isRunEnd(event)) break;
  }
  stream.close();
  await transport.close();
  return read;
}

// The run still going as the reader moves: the reply is split between the two.
const { status } = await new Client({ apiUrl: urlB }).threads.get(thread.threadId);
const since = Math.max(...onA.map((event) => event.seq));
const onB = await readOnB(since);
const whole = await readOnB(0);
console.log(JSON.stringify({ run_id: started.run_id, status, since, on_a: onA, on_b: onB, whole }));
