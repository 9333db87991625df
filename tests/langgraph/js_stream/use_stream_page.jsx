// A chat page on @langchain/react's useStream (the thread-centric protocol), as its README
// writes one: the messages, a form to send one. The thread's id goes into the page's address
// once known, so that a reload, or the address opened in another tab, shows the same thread.
// Bundled by esbuild; the test opens it with ?apiUrl=<server>[&threadId=<thread>].
import { useStream } from "@langchain/react";
import { useState } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(window.location.search);
const apiUrl = params.get("apiUrl");

function text(content) {
  if (typeof content === "string") return content;
  return content.map((block) => (block.type === "text" ? block.text : "")).join("");
}

function remember(threadId) {
  const url = new URL(window.location.href);
  url.searchParams.set("threadId", threadId);
  window.history.replaceState(null, "", url);
}

function Chat() {
  const [input, setInput] = useState("");
  const stream = useStream({
    apiUrl,
    assistantId: "chat",
    threadId: params.get("threadId") ?? undefined,
    onThreadId: remember,
  });

  const send = (event) => {
    event.preventDefault();
    if (input.trim().length === 0) return;
    stream.submit({ messages: [{ type: "human", content: input }] });
    setInput("");
  };

  return (
    <main data-loading={stream.isLoading ? "yes" : "no"} data-thread={stream.threadId ?? ""}>
      <ul className="messages">
        {stream.messages.map((message, index) => (
          <li key={message.id ?? index} className={`message ${message.type}`}>
            <span className="text">{text(message.content)}</span>
          </li>
        ))}
      </ul>
      {stream.error ? <p className="error">{String(stream.error)}</p> : null}
      <form onSubmit={send}>
        <input className="input" value={input} onChange={(e) => setInput(e.target.value)} />
        <button type="submit" disabled={stream.isLoading}>
          Send
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Chat />);
