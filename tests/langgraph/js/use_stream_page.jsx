// Agent Chat UI's thread, cut down to what its history and branches need: useStream from
// @langchain/langgraph-sdk/react (1.8.10) with the options of its providers/Stream.tsx, and the
// handlers of its components/thread/index.tsx (send, regenerate) and messages/human.tsx (edit),
// ai.tsx and shared.tsx (the branch switcher). Bundled by esbuild; the test opens it with
// ?apiUrl=<server>.
import { useStream } from "@langchain/langgraph-sdk/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";

const apiUrl = new URLSearchParams(window.location.search).get("apiUrl");

function text(content) {
  return typeof content === "string" ? content : content.map((block) => block.text ?? "").join("");
}

// shared.tsx's, given what ai.tsx and human.tsx give it: the message's branch and options,
// and `thread.setBranch` to select one.
function BranchSwitcher({ thread, meta, isLoading }) {
  const { branch, branchOptions } = meta ?? {};
  const onSelect = (option) => thread.setBranch(option);
  if (!branchOptions || !branch) return null;
  const index = branchOptions.indexOf(branch);
  return (
    <span className="switcher">
      <button
        className="previous"
        disabled={isLoading}
        onClick={() => branchOptions[index - 1] && onSelect(branchOptions[index - 1])}
      >
        &lt;
      </button>
      <span className="position">
        {index + 1} / {branchOptions.length}
      </span>
      <button
        className="next"
        disabled={isLoading}
        onClick={() => branchOptions[index + 1] && onSelect(branchOptions[index + 1])}
      >
        &gt;
      </button>
    </span>
  );
}

function HumanMessage({ thread, message, isLoading }) {
  const meta = thread.getMessagesMetadata(message);
  const parentCheckpoint = meta?.firstSeenState?.parent_checkpoint;
  const [value, setValue] = useState("");
  const [isEditing, setIsEditing] = useState(false);

  const handleSubmitEdit = () => {
    setIsEditing(false);
    const newMessage = { type: "human", content: value };
    thread.submit(
      { messages: [newMessage] },
      {
        checkpoint: parentCheckpoint,
        streamMode: ["values"],
        streamSubgraphs: true,
        streamResumable: true,
        optimisticValues: (prev) => {
          const values = meta?.firstSeenState?.values;
          if (!values) return prev;
          return { ...values, messages: [...(values.messages ?? []), newMessage] };
        },
      },
    );
  };

  return (
    <li className="message human" data-id={message.id}>
      {isEditing ? (
        <>
          <textarea value={value} onChange={(e) => setValue(e.target.value)} />
          <button className="submit-edit" onClick={handleSubmitEdit}>
            Save
          </button>
        </>
      ) : (
        <span className="text">{text(message.content)}</span>
      )}
      <BranchSwitcher thread={thread} meta={meta} isLoading={isLoading} />
      <button
        className="edit"
        disabled={isLoading}
        onClick={() => {
          setValue(text(message.content));
          setIsEditing(true);
        }}
      >
        Edit
      </button>
    </li>
  );
}

function AssistantMessage({ thread, message, isLoading, handleRegenerate }) {
  const meta = thread.getMessagesMetadata(message);
  const parentCheckpoint = meta?.firstSeenState?.parent_checkpoint;
  return (
    <li className="message ai" data-id={message.id}>
      <span className="text">{text(message.content)}</span>
      <BranchSwitcher thread={thread} meta={meta} isLoading={isLoading} />
      <button
        className="regenerate"
        disabled={isLoading}
        onClick={() => handleRegenerate(parentCheckpoint)}
      >
        Regenerate
      </button>
    </li>
  );
}

function Thread() {
  const [threadId, setThreadId] = useState(null);
  const [input, setInput] = useState("");
  const thread = useStream({
    apiUrl,
    assistantId: "chat",
    threadId,
    fetchStateHistory: true,
    onCustomEvent: () => {},
    onThreadId: setThreadId,
  });
  const { messages, isLoading } = thread;

  const handleSubmit = (e) => {
    e.preventDefault();
    if (input.trim().length === 0 || isLoading) return;
    const newHumanMessage = { id: crypto.randomUUID(), type: "human", content: [{ type: "text", text: input }] };
    thread.submit(
      { messages: [newHumanMessage] },
      {
        streamMode: ["values"],
        streamSubgraphs: true,
        streamResumable: true,
        optimisticValues: (prev) => ({
          ...prev,
          messages: [...(prev.messages ?? []), newHumanMessage],
        }),
      },
    );
    setInput("");
  };

  const handleRegenerate = (parentCheckpoint) => {
    thread.submit(undefined, {
      checkpoint: parentCheckpoint,
      streamMode: ["values"],
      streamSubgraphs: true,
      streamResumable: true,
    });
  };

  return (
    <main data-loading={isLoading ? "yes" : "no"} data-thread={threadId ?? ""}>
      <ul className="messages">
        {messages.map((message, index) =>
          message.type === "human" ? (
            <HumanMessage
              key={message.id || `${message.type}-${index}`}
              thread={thread}
              message={message}
              isLoading={isLoading}
            />
          ) : (
            <AssistantMessage
              key={message.id || `${message.type}-${index}`}
              thread={thread}
              message={message}
              isLoading={isLoading}
              handleRegenerate={handleRegenerate}
            />
          ),
        )}
      </ul>
      {thread.error ? <p className="error">{String(thread.error)}</p> : null}
      <form onSubmit={handleSubmit}>
        <input className="input" value={input} onChange={(e) => setInput(e.target.value)} />
        <button type="submit" disabled={isLoading}>
          Send
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Thread />);
