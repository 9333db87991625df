// What the page's modules share: its elements, and what it knows of the sessions and the
// conversation shown.

const $ = (id) => document.getElementById(id);

export const ui = {
  sidebarToggle: $("sidebar-toggle"),
  newSession: $("new-session"),
  sessionList: $("session-list"),
  sessionsEmpty: $("sessions-empty"),
  olderSessions: $("older-sessions"),
  title: $("conversation-title"),
  deleteSession: $("delete-session"),
  log: $("conversation"),
  notice: $("notice"),
  problem: $("problem"),
  composer: $("composer"),
  message: $("message"),
  send: $("send"),
  stop: $("stop"),
  deleteDialog: $("delete-dialog"),
  keyDialog: $("key-dialog"),
  keyReason: $("key-dialog-reason"),
  keyInput: $("api-key"),
};

export const EMPTY_HINT = ui.log.querySelector(".empty");

export const state = {
  sessionId: null, // the session shown, null for a new conversation not yet sent
  sessions: [], // {session_id, created_at}, newest first
  nextCursor: null,
  titles: new Map(), // session id -> its first message, for the sessions seen on this page
  branches: null, // the versions of the session shown (branches.js), null until read
  leaf: null, // the checkpoint that ends the version shown
  reply: null, // the reply streaming: {controller, stoppedByUser}
  view: 0, // counts switches of conversation, so an answer for one left behind is dropped
};
