// Editing a message in place: the box that opens on it, and closes on Escape.

import { ui } from "./page.js";
import { editForm } from "./render.js";

export function startEdit(message, from, text = message.dataset.text) {
  const form = editForm(text);
  form.dataset.from = from;
  message.classList.add("editing");
  message.append(form);
  const box = form.querySelector("textarea");
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

export function cancelEdit(form) {
  const message = form.closest(".message");
  form.remove();
  message.classList.remove("editing");
  message.querySelector('[data-action="edit"]')?.focus();
}

/** An edit that failed opens again, with its text, on the message it was to replace. */
export function editAgain(text) {
  const button = ui.log.querySelector('[data-action="edit"]');
  if (button) startEdit(button.closest(".message"), button.dataset.from, text);
}

export function onEditKey(event) {
  if (!event.target.closest("form.edit")) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    event.target.form.requestSubmit();
  } else if (event.key === "Escape") {
    cancelEdit(event.target.form);
  }
}
