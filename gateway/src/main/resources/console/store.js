// What the console remembers lives in this browser's localStorage only: conversations, the
// completion prompt and the settings. Nothing of it is ever sent to the server except as the
// requests themselves.

const CONVERSATIONS = 'quire.console.conversations.v1';
const SETTINGS = 'quire.console.settings.v1';
const MAX_CONVERSATIONS = 100;

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (e) {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (e) {
    return false; // quota: the caller drops old data and tries again
  }
}

export function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Every saved conversation, most recent first. */
export function conversations() {
  const list = read(CONVERSATIONS, []);
  if (!Array.isArray(list)) return [];
  return list.filter(c => c && typeof c.id === 'string' && Array.isArray(c.messages))
    .sort((a, b) => (b.updated || 0) - (a.updated || 0));
}

/** Saves one conversation (replacing its older copy); drops the oldest ones when storage is full. */
export function saveConversation(conversation) {
  conversation.updated = Date.now();
  let list = conversations().filter(c => c.id !== conversation.id);
  list.unshift(conversation);
  list = list.slice(0, MAX_CONVERSATIONS);
  while (!write(CONVERSATIONS, list) && list.length > 1) list.pop();
}

export function deleteConversation(id) {
  write(CONVERSATIONS, conversations().filter(c => c.id !== id));
}

export function settings() {
  const value = read(SETTINGS, {});
  return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
}

export function saveSettings(value) {
  write(SETTINGS, value);
}
