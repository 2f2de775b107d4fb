// Which Telegram updates the agent may hear. An update names a sender (a user, or a chat acting
// as one) and the chats it happens in; it is delivered only if it has a sender and every party
// it names is allowlisted. Unknown update types and updates with no sender are dropped: a new
// Bot API field must be looked at before strangers can reach the agent through it.

export interface TelegramAllowlist {
  users: ReadonlySet<number>; // messengers.telegram.allowFrom
  chats: ReadonlySet<number>; // messengers.telegram.allowChats
}

export function allowlistOf(t: { allowFrom: number[]; allowChats: number[] }): TelegramAllowlist {
  return { users: new Set(t.allowFrom), chats: new Set(t.allowChats) };
}

// A private chat's id is its user's id, so an allowlisted user's own chat is always allowed.
export const chatAllowed = (id: number, a: TelegramAllowlist) => a.users.has(id) || a.chats.has(id);

type Json = Record<string, unknown>;
export interface Update {
  update_id: number;
  [type: string]: unknown;
}

interface Party {
  kind: "user" | "chat";
  id: number;
}

interface Parties {
  sender?: Party;
  others: Party[];
}

const obj = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const idOf = (v: unknown): number | undefined => {
  const id = obj(v)?.id;
  return typeof id === "number" && Number.isSafeInteger(id) ? id : undefined;
};
const user = (v: unknown): Party | undefined => {
  const id = idOf(v);
  return id === undefined ? undefined : { kind: "user", id };
};
const chat = (v: unknown): Party | undefined => {
  const id = idOf(v);
  return id === undefined ? undefined : { kind: "chat", id };
};
const isPrivate = (v: unknown) => obj(v)?.type === "private";
const present = (...ps: (Party | undefined)[]) => ps.filter((p): p is Party => p !== undefined);

// In a private chat the chat is the user, so it names the sender when nothing else does
// (deleted business messages, reactions).
const privateChatSender = (c: unknown) => (isPrivate(c) ? chat(c) : undefined);

function messageLike(m: Json): Parties {
  // `from` in a group may be a stand-in (GroupAnonymousBot, Telegram for channel forwards);
  // with sender_chat both are parties, so neither slips through on the other's behalf.
  const from = user(m.from);
  const senderChat = chat(m.sender_chat);
  return {
    sender: from ?? senderChat ?? privateChatSender(m.chat),
    others: present(from, senderChat, chat(m.chat)),
  };
}

const fromOnly = (q: Json): Parties => ({ sender: user(q.from), others: [] });

function boost(b: Json, source: unknown): Parties {
  const booster = user(obj(source)?.user);
  return { sender: booster, others: present(chat(b.chat)) };
}

// Every update type of Bot API 9.x that names a user or a chat. Anything else is dropped.
const PARTIES: Record<string, (payload: Json) => Parties> = {
  message: messageLike,
  edited_message: messageLike,
  channel_post: messageLike,
  edited_channel_post: messageLike,
  business_message: messageLike,
  edited_business_message: messageLike,
  deleted_business_messages: (d) => ({ sender: privateChatSender(d.chat), others: present(chat(d.chat)) }),
  business_connection: (b) => ({ sender: user(b.user), others: [] }),
  callback_query: (q) => ({ sender: user(q.from), others: present(chat(obj(q.message)?.chat)) }),
  inline_query: fromOnly,
  chosen_inline_result: fromOnly,
  shipping_query: fromOnly,
  pre_checkout_query: fromOnly,
  purchased_paid_media: fromOnly,
  // A poll's state changes carry no sender at all.
  poll: () => ({ others: [] }),
  poll_answer: (a) => {
    const voter = user(a.user) ?? chat(a.voter_chat);
    return { sender: voter, others: present(user(a.user), chat(a.voter_chat)) };
  },
  my_chat_member: (m) => ({ sender: user(m.from), others: present(chat(m.chat)) }),
  chat_member: (m) => ({ sender: user(m.from), others: present(chat(m.chat)) }),
  chat_join_request: (r) => ({ sender: user(r.from), others: present(chat(r.chat)) }),
  message_reaction: (r) => {
    const actor = user(r.user) ?? chat(r.actor_chat);
    return { sender: actor, others: present(user(r.user), chat(r.actor_chat), chat(r.chat)) };
  },
  // Anonymous counts: no sender can be named.
  message_reaction_count: (r) => ({ others: present(chat(r.chat)) }),
  chat_boost: (b) => boost(b, obj(b.boost)?.source),
  removed_chat_boost: (b) => boost(b, b.source),
};

export const KNOWN_UPDATE_TYPES = Object.keys(PARTIES);

export interface DroppedUpdate {
  updateId: number;
  type: string;
  senderId?: number;
  chatId?: number;
  reason: string;
}

function updateType(update: Update): string {
  const types = Object.keys(update).filter((k) => k !== "update_id");
  return types.length === 1 ? (types[0] as string) : types.join("+") || "empty";
}

// The verdict on one update: undefined to deliver, or why it is dropped.
export function judgeUpdate(update: Update, allowlist: TelegramAllowlist): DroppedUpdate | undefined {
  const type = updateType(update);
  const partiesOf = Object.hasOwn(PARTIES, type) ? PARTIES[type] : undefined;
  const payload = obj(update[type]);
  const base = { updateId: update.update_id, type };
  if (!partiesOf || !payload) return { ...base, reason: "unknown update type" };
  const { sender, others } = partiesOf(payload);
  const chatId = others.find((p) => p.kind === "chat")?.id;
  if (!sender) return { ...base, chatId, reason: "sender cannot be determined" };
  for (const p of [sender, ...others]) {
    const ok = p.kind === "user" ? allowlist.users.has(p.id) : chatAllowed(p.id, allowlist);
    if (!ok) return { ...base, senderId: sender.id, chatId, reason: `${p.kind} ${p.id} is not allowlisted` };
  }
  return undefined;
}

export function filterUpdates(
  updates: readonly Update[],
  allowlist: TelegramAllowlist,
): { deliver: Update[]; drop: DroppedUpdate[] } {
  const deliver: Update[] = [];
  const drop: DroppedUpdate[] = [];
  for (const u of updates) {
    const verdict = judgeUpdate(u, allowlist);
    if (verdict) drop.push(verdict);
    else deliver.push(u);
  }
  return { deliver, drop };
}
