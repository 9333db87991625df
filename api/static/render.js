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

/** What a stored message shows: its text, then a line in place of each image or file. */
export function shownText({ content }) {
  if (!Array.isArray(content)) return String(content ?? "");
  const text = content.filter((b) => b?.type === "text").map((b) => b.text);
  const attached = content.filter((b) => b?.type && b.type !== "text").map(attachmentLine);
  return [text.join(""), ...attached].filter((line) => line !== "").join("\n");
}

function attachmentLine(block) {
  const kind = block.type === "file" ? "file" : "image";
  const holders = [block, block.metadata ?? {}, block.extras ?? {}];
  const name = holders.map((h) => h.filename ?? h.name).find((n) => typeof n === "string");
  const url = typeof block.url === "string" ? block.url : block.image_url?.url ?? block.image_url;
  const where = typeof url === "string" && !url.startsWith("data:") ? url : null;
  return `[${kind}${name || where ? `: ${name || where}` : ""}]`;
}

function actionButton(label, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = label;
  button.dataset.action = action;
  return button;
}

/** The buttons under a message: `versions` (leaf ids) with `version` the one shown, and
 * `regenerate`, `edit`: the checkpoint each runs from, or null. */
export function messageActions(role, { versions, version, regenerate, edit }) {
  const actions = document.createElement("div");
  actions.className = "actions";
  if (versions) {
    const group = document.createElement("div");
    group.className = "versions";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", `Versions of this ${role === "user" ? "message" : "reply"}`);
    const step = (symbol, label, to) => {
      const button = actionButton(symbol, "version");
      button.setAttribute("aria-label", label);
      button.disabled = to < 0 || to >= versions.length;
      if (!button.disabled) button.dataset.leaf = versions[to];
      return button;
    };
    const position = document.createElement("span");
    position.textContent = `${version + 1} / ${versions.length}`;
    group.append(step("‹", "Previous version", version - 1), position);
    group.append(step("›", "Next version", version + 1));
    actions.append(group);
  }
  for (const [label, from] of [
    ["Regenerate", regenerate],
    ["Edit", edit],
  ]) {
    if (!from) continue;
    const button = actionButton(label, label.toLowerCase());
    button.dataset.from = from;
    actions.append(button);
  }
  return actions.childElementCount ? actions : null;
}

/** The box that takes a message's new text in its place. */
export function editForm(text) {
  const form = document.createElement("form");
  form.className = "edit";
  const box = document.createElement("textarea");
  box.rows = 3;
  box.value = text;
  box.setAttribute("aria-label", "Edit your message");
  const cancel = actionButton("Cancel", "cancel-edit");
  const send = document.createElement("button");
  send.textContent = "Send edit";
  const buttons = document.createElement("div");
  buttons.className = "edit-actions";
  buttons.append(cancel, send);
  form.append(box, buttons);
  return form;
}
