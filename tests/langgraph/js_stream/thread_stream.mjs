// Turns on one thread through the JS SDK's `client.threads.stream` (the thread-centric
// protocol): `run.start` with a subscription asked for at once (one event stream then carries
// the run), and the events up to the run's end.
// The first two turns share one ThreadStream, which `run.start` readies for its next run; the
// third opens another ThreadStream on the same thread, as another process would.
// `thread.output` is read for the first and the third: a ThreadStream settles it once, at the
// end of the first run it sees (its `values` projection ends there).
// Usage: node thread_stream.mjs <apiUrl> <first message> <second message> <third message>
import { Client } from "@langchain/langgraph-sdk";
import { deadline, recorded, texts } from "./events.mjs";

deadline(90);
const [apiUrl, ...messages] = process.argv.slice(2);
const client = new Client({ apiUrl });
const CHANNELS = ["lifecycle", "messages", "values"];

async function turn(thread, subscription, text) {
  const [started, subscribed] = await Promise.all([
    thread.run.start({ input: { messages: [{ role: "user", content: text }] } }),
    subscription ?? thread.subscribe(CHANNELS),
  ]);
  const events = [];
  // The subscription pauses at the run's end, which ends the loop (a `break` would close it);
  // the next run.start resumes it.
  for await (const event of subscribed) events.push(recorded(event));
  return { subscribed, run_id: started.run_id, events };
}

const thread = client.threads.stream({ assistantId: "chat" });
const first = await turn(thread, undefined, messages[0]);
first.output = texts((await thread.output).messages);
const second = await turn(thread, first.subscribed, messages[1]);
await thread.close();

const reopened = client.threads.stream(thread.threadId, { assistantId: "chat" });
const third = await turn(reopened, undefined, messages[2]);
third.output = texts((await reopened.output).messages);
await reopened.close();

const turns = [first, second, third].map(({ subscribed, ...rest }) => rest);
console.log(JSON.stringify({ thread_id: thread.threadId, turns }));
