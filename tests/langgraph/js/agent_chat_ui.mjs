// Agent Chat UI's calls to a LangGraph server, made through the JS SDK at the version it pins
// (@langchain/langgraph-sdk 1.8.10), in the order its useStream hook makes them: a conversation,
// then the reply regenerated, a message edited, and the branch switcher turned back.
// Usage: node agent_chat_ui.mjs <server url> [api key]. Prints one JSON document of what came back.
import { randomUUID } from "node:crypto";
import { Client } from "@langchain/langgraph-sdk";
import { getBranchContext, getMessagesMetadataMap } from "@langchain/langgraph-sdk/ui";

const [apiUrl, apiKey] = process.argv.slice(2);
const client = new Client({ apiUrl, apiKey: apiKey ?? null });
const ASSISTANT = "chat";
// Agent Chat UI's `useStream({fetchStateHistory: true})`: a limit that is not a number is 10.
const HISTORY = { limit: 10 };
// Its submit's ["values"], then what its components read: `messages` ("messages-tuple",
// "values"), and `onCustomEvent` ("custom"). Nothing it reads asks for "updates".
const STREAM_MODE = ["values", "messages-tuple", "custom"];

// The hook's `branch` state: "" until a submit from a checkpoint or the branch switcher sets it.
let branch = "";

async function stream(threadId, input, checkpoint) {
  const events = [];
  let runId = null;
  try {
    for await (const part of client.runs.stream(threadId, ASSISTANT, {
      input,
      streamMode: STREAM_MODE,
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
    return { runId, events };
  } catch (error) {
    const status = error.status ?? null;
    return { runId, events, error: { status, message: String(error) } };
  }
}

function text(content) {
  return typeof content === "string" ? content : content.map((block) => block.text ?? "").join("");
}

// What the thread shows for a branch: the messages of its head, each with the metadata the
// message components read (`getMessagesMetadata`), and the branch switcher's "i / n".
function view(history, at) {
  const branchContext = getBranchContext(at, history);
  const metadata = getMessagesMetadataMap({
    initialValues: {},
    history,
    getMessages: (values) => (Array.isArray(values.messages) ? values.messages : []),
    branchContext,
  });
  const messages = (branchContext.threadHead?.values?.messages ?? []).map((message, index) => {
    const meta = metadata[index];
    const switcher =
      meta.branch && meta.branchOptions
        ? `${meta.branchOptions.indexOf(meta.branch) + 1}/${meta.branchOptions.length}`
        : null;
    return {
      id: message.id,
      type: message.type,
      text: text(message.content),
      branch: meta.branch ?? null,
      branchOptions: meta.branchOptions ?? null,
      switcher,
      firstSeen: meta.firstSeenState?.checkpoint ?? null,
      parent: meta.firstSeenState?.parent_checkpoint ?? null,
    };
  });
  return { branch: at, head: branchContext.threadHead?.checkpoint ?? null, messages, branchContext };
}

// `submit`: the branch becomes the one of the checkpoint it runs from, or "" without one (the
// newest child at every fork); without a checkpoint the run goes on from the head of the branch
// shown. The checkpoint goes without its thread id.
async function submit(threadId, shown, input, checkpoint) {
  const checkpointId = checkpoint?.checkpoint_id;
  branch =
    checkpointId != null ? (shown.branchContext.branchByCheckpoint[checkpointId]?.branch ?? "") : "";
  const from = checkpoint ?? shown.head ?? undefined;
  const sent = from == null ? undefined : { ...from };
  if (sent != null) delete sent.thread_id;
  const run = await stream(threadId, input, sent);
  // onSuccess: the history fetched again, and the thread shown from it.
  const history = await client.threads.getHistory(threadId, HISTORY);
  return {
    run: { ...run, input: input ?? null, checkpoint: sent ?? null },
    history,
    shown: view(history, branch),
  };
}

// The branch (the path of fork choices) that leads to a checkpoint, from the hook's branch tree:
// what the switchers would have to be turned to for the thread to show it.
function branchOf(sequence, checkpoint) {
  for (const item of sequence.items) {
    if (item.type === "node" && item.value.checkpoint?.checkpoint_id === checkpoint.checkpoint_id) {
      return item.path.join(">");
    }
    if (item.type === "fork") {
      for (const forked of item.items) {
        const found = branchOf(forked, checkpoint);
        if (found != null) return found;
      }
    }
  }
  return null;
}

function human(content) {
  // handleSubmit's message: a new id, the text as a content block.
  return { messages: [{ id: randomUUID(), type: "human", content: [{ type: "text", text: content }] }] };
}

function lastOfType(shown, type) {
  return shown.messages.filter((m) => m.type === type).at(-1);
}

function strip({ branchContext: _context, ...shown }) {
  return shown;
}

const headers = apiKey ? { "X-Api-Key": apiKey } : {};
const info = await fetch(`${apiUrl}/info`, { headers });
const search = { metadata: { graph_id: ASSISTANT }, limit: 100, offset: 0 };
const found = await client.threads.search(search);
const thread = await client.threads.create({ threadId: undefined, metadata: undefined });
const threadId = thread.thread_id;
const empty = view([], branch);

const first = await submit(threadId, empty, human("Hi, my name is Bob!"));
const second = await submit(threadId, first.shown, human("What's my name again?"));

// Regenerate (ai.tsx): no input, from the parent of the state the reply was first seen in.
const reply = lastOfType(second.shown, "ai");
const regenerate = await submit(threadId, second.shown, undefined, reply.parent);

// Edit (human.tsx): the new text as a message of no id, from the parent of the state the
// message was first seen in.
const question = lastOfType(regenerate.shown, "human");
const edit = await submit(
  threadId,
  regenerate.shown,
  { messages: [{ type: "human", content: "Call me Alice" }] },
  question.parent,
);

// The branch switcher (shared.tsx): the edited message's other option, then, on that branch,
// the regenerated reply's other option.
const edited = edit.shown.messages.find((m) => m.text === "Call me Alice");
branch = edited.branchOptions.find((option) => option !== edited.branch);
const switched = view(edit.history, branch);
const regenerated = lastOfType(switched, "ai");
branch = regenerated.branchOptions.find((option) => option !== regenerated.branch);
const original = view(edit.history, branch);

// A new message on the branch shown: it goes on from that branch's head. The hook then shows
// the newest child at every fork; the new turn is on the branch of its own head.
const onOriginal = await submit(threadId, original, human("Thanks!"));
const followed = view(
  onOriginal.history,
  branchOf(onOriginal.shown.branchContext.branchTree, onOriginal.history[0].checkpoint),
);

const every = await client.threads.getHistory(threadId, { limit: 1000 });
const searched = await client.threads.search(search);

console.log(
  JSON.stringify({
    info: { ok: info.ok, status: info.status },
    found: found.map((t) => t.thread_id),
    thread,
    runs: {
      first: first.run,
      second: second.run,
      regenerate: regenerate.run,
      edit: edit.run,
      onOriginal: onOriginal.run,
    },
    histories: {
      first: first.history,
      second: second.history,
      regenerate: regenerate.history,
      edit: edit.history,
      onOriginal: onOriginal.history,
    },
    shown: {
      first: strip(first.shown),
      second: strip(second.shown),
      regenerate: strip(regenerate.shown),
      edit: strip(edit.shown),
      switched: strip(switched),
      original: strip(original),
      onOriginal: strip(onOriginal.shown),
      followed: strip(followed),
    },
    every,
    searched: searched.filter((t) => t.thread_id === threadId),
  }),
);
