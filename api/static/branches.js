// The versions of a conversation, read from its history: every state the server keeps, newest
// first, each linked to the state it came from (`parent_checkpoint`). Regenerating a reply,
// editing a message or sending from an older version forks the tree; each path from the first
// state to a leaf is a version of the conversation. Nothing here touches the page.

const count = (state) => state.messages.length;

/** A session's states as a tree: `history` as POST /threads/{id}/history answers it. */
export class Branches {
  #states = new Map(); // checkpoint id -> {id, parent, messages, next}
  #newest = new Map(); // checkpoint id -> the newest state below it (itself included): a leaf
  #anchors = new Map(); // checkpoint id -> its anchor (below)
  #forks = new Map(); // anchor id -> the states that add messages after it, oldest first

  constructor(history) {
    for (const entry of history) {
      const id = entry.checkpoint?.checkpoint_id;
      if (!id) continue;
      this.#states.set(id, {
        id,
        parent: entry.parent_checkpoint?.checkpoint_id ?? null,
        messages: entry.values?.messages ?? [],
        next: entry.next ?? [],
      });
    }
    this.head = this.#states.keys().next().value ?? null;
    for (const state of this.#states.values()) {
      // Every ancestor of the newest state is claimed by it; an older one stops at the first
      // ancestor claimed already, since everything above that is claimed too.
      for (let at = state; at && !this.#newest.has(at.id); at = this.#parent(at)) {
        this.#newest.set(at.id, state.id);
      }
    }
    for (const state of [...this.#states.values()].reverse()) {
      const parent = this.#parent(state);
      if (!parent || count(state) <= count(parent)) continue;
      const anchor = this.#anchor(parent);
      if (!this.#forks.has(anchor)) this.#forks.set(anchor, []);
      this.#forks.get(anchor).push(state);
    }
  }

  /** Whether checkpoint `id` is one of the states read. */
  has(id) {
    return this.#states.has(id);
  }

  /** The parent of `state`, undefined for the first state or one older than the history read. */
  #parent(state) {
    return state.parent === null ? undefined : this.#states.get(state.parent);
  }

  // The topmost of the states above `state` (itself included) that hold as many messages as it
  // does. The states that add messages after any of them are the versions of what comes next:
  // a reply regenerated goes on from a copy of the state that asked for it, an edited message
  // from a new input state after the one before it, a message sent from an older version from
  // that version's last state.
  #anchor(state) {
    let anchor = this.#anchors.get(state.id);
    if (anchor === undefined) {
      const parent = this.#parent(state);
      anchor = parent && count(parent) === count(state) ? this.#anchor(parent) : state.id;
      this.#anchors.set(state.id, anchor);
    }
    return anchor;
  }

  /** The state that first holds message `index` on the way to `leaf`, and the one before it. */
  #firstHolding(leaf, index) {
    let state = this.#states.get(leaf);
    let parent = this.#parent(state);
    while (parent && count(parent) > index) [state, parent] = [parent, this.#parent(parent)];
    return { state, parent };
  }

  /**
   * The messages of the version that ends at `leaf`, each as {message, versions, version}:
   * where other versions differ from this message on, `versions` holds the leaf each one
   * ends at (oldest first) and `version` the index of this one; otherwise it is null.
   */
  conversation(leaf) {
    const shown = this.#states.get(leaf);
    if (!shown) return [];
    const result = shown.messages.map((message) => ({ message, versions: null, version: 0 }));
    for (let state = shown, parent; state; state = parent) {
      parent = this.#parent(state);
      if (!parent || count(state) <= count(parent) || count(parent) >= result.length) continue;
      const fork = this.#forks.get(this.#anchor(parent));
      if (fork.length < 2) continue;
      const at = result[count(parent)];
      at.versions = fork.map((s) => this.#newest.get(s.id));
      at.version = fork.indexOf(state);
    }
    return result;
  }

  /** The checkpoint to run again from for another last reply of `leaf`, or null. */
  regenerateFrom(leaf) {
    const messages = this.#states.get(leaf)?.messages ?? [];
    if (messages.at(-1)?.type !== "ai") return null;
    const { parent } = this.#firstHolding(leaf, messages.length - 1);
    const asksModel = parent?.next.includes("model") && count(parent) === messages.length - 1;
    return asksModel ? parent.id : null;
  }

  /** {index, from}: the last user message of `leaf` and the checkpoint an edit of it runs
   * from (the last without it), or null. */
  editFrom(leaf) {
    const messages = this.#states.get(leaf)?.messages ?? [];
    const index = messages.findLastIndex((m) => m.type === "human");
    if (index < 0) return null;
    const { parent } = this.#firstHolding(leaf, index);
    return parent && count(parent) === index ? { index, from: parent.id } : null;
  }
}
