// Messages on the page. Text is only ever set through textContent, never parsed as HTML:
// a reply that says <script> shows those characters and nothing else.

const FENCE = /^ {0,3}```/;
const SPEAKERS = { user: "You", assistant: "Assistant" };

/** The text cut into prose and ``` fenced code blocks (a block still open counts as code). */
export function blocks(text) {
  const result = [];
  let current = { code: false, lines: [] };
  for (const line of text.split("\n")) {
    if (FENCE.test(line)) {
      result.push(current);
      current = { code: !current.code, lines: [] };
    } else {
      current.lines.push(line);
    }
  }
  result.push(current);
  return result
    .map(({ code, lines }) => ({ code, text: code ? lines.join("\n") : lines.join("\n").trim() }))
    .filter(({ code, text }) => code || text !== "");
}

function blockElement({ code, text }) {
  if (!code) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    return paragraph;
  }
  const pre = document.createElement("pre");
  const codeElement = document.createElement("code");
  codeElement.textContent = text;
  pre.append(codeElement);
  // A long line scrolls inside its block; keyboard users need to reach it to scroll it.
  pre.tabIndex = 0;
  return pre;
}

/** Shows `text` in a message, replacing what it showed before. */
export function setText(message, text) {
  message.dataset.text = text;
  message.querySelector(".text").replaceChildren(...blocks(text).map(blockElement));
}

export function appendText(message, more) {
  setText(message, message.dataset.text + more);
}

/** A new message element: role "user" or "assistant", state "done", "streaming" or "failed". */
export function messageElement(role, text, state = "done") {
  const message = document.createElement("article");
  message.className = "message";
  message.dataset.role = role;
  message.dataset.state = state;
  const speaker = document.createElement("h3");
  speaker.className = "speaker";
  speaker.textContent = SPEAKERS[role];
  const body = document.createElement("div");
  body.className = "text";
  const note = document.createElement("p");
  note.className = "note";
  message.append(speaker, body, note);
  setText(message, text);
  return message;
}

/** Marks a message as not (or not wholly) kept, saying why under it. */
export function markMessage(message, state, note) {
  message.dataset.state = state;
  message.querySelector(".note").textContent = note;
}
