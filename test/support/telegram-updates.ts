// Telegram updates of every type that names a user or a chat, built for a given sender and chat,
// shaped as the Bot API sends them. Shared by the unit tests and the relay integration tests.
export const OWNER = 111_111; // in allowFrom
export const GROUP = -100_111; // in allowChats
export const STRANGER = 999_999;
export const STRANGE_GROUP = -100_999;

const userObj = (id: number) => ({ id, is_bot: false, first_name: `u${id}` });
const chatObj = (id: number) =>
  id > 0
    ? { id, type: "private", first_name: `u${id}` }
    : { id, type: id < -100_500 ? "supergroup" : "supergroup", title: `g${id}` };
const channelObj = (id: number) => ({ id, type: "channel", title: `c${id}` });
const message = (from: number, chat: number) => ({
  message_id: 7,
  date: 1_700_000_000,
  from: userObj(from),
  chat: chatObj(chat),
  text: `hello from ${from}`,
});
const member = (id: number, status: string) => ({ status, user: userObj(id) });
const memberUpdate = (from: number, chat: number) => ({
  chat: chatObj(chat),
  from: userObj(from),
  date: 1_700_000_000,
  old_chat_member: member(from, "left"),
  new_chat_member: member(from, "member"),
});

// Every update type, as sent by `user` (in `chat` where the type has one). Types that carry
// only a chat (channel posts) use `chat` as the sender chat.
export function updateOfType(type: string, user: number, chat: number): Record<string, unknown> {
  switch (type) {
    case "message":
    case "edited_message":
      return { [type]: message(user, chat) };
    case "channel_post":
    case "edited_channel_post":
      return {
        [type]: {
          message_id: 3,
          date: 1,
          sender_chat: channelObj(chat),
          chat: channelObj(chat),
          text: "post",
        },
      };
    case "business_message":
    case "edited_business_message":
      return { [type]: { ...message(user, user), business_connection_id: "bc1" } };
    case "deleted_business_messages":
      return { [type]: { business_connection_id: "bc1", chat: chatObj(user), message_ids: [1, 2] } };
    case "business_connection":
      return {
        [type]: {
          id: "bc1",
          user: userObj(user),
          user_chat_id: user,
          date: 1,
          can_reply: true,
          is_enabled: true,
        },
      };
    case "callback_query":
      return {
        [type]: {
          id: `cb${user}`,
          from: userObj(user),
          message: message(OWNER, chat),
          chat_instance: "1",
          data: "x",
        },
      };
    case "inline_query":
      return { [type]: { id: `iq${user}`, from: userObj(user), query: "q", offset: "" } };
    case "chosen_inline_result":
      return { [type]: { result_id: "r", from: userObj(user), query: "q" } };
    case "shipping_query":
      return {
        [type]: {
          id: `sq${user}`,
          from: userObj(user),
          invoice_payload: "p",
          shipping_address: {
            country_code: "DE",
            state: "",
            city: "B",
            street_line1: "s",
            street_line2: "",
            post_code: "1",
          },
        },
      };
    case "pre_checkout_query":
      return {
        [type]: {
          id: `pq${user}`,
          from: userObj(user),
          currency: "XTR",
          total_amount: 1,
          invoice_payload: "p",
        },
      };
    case "purchased_paid_media":
      return { [type]: { from: userObj(user), paid_media_payload: "p" } };
    case "poll":
      return {
        [type]: {
          id: "p1",
          question: "q",
          options: [{ text: "a", voter_count: 1 }],
          total_voter_count: 1,
          is_closed: false,
          is_anonymous: true,
          type: "regular",
          allows_multiple_answers: false,
        },
      };
    case "poll_answer":
      return { [type]: { poll_id: "p1", user: userObj(user), option_ids: [0] } };
    case "my_chat_member":
    case "chat_member":
      return { [type]: memberUpdate(user, chat) };
    case "chat_join_request":
      return { [type]: { chat: chatObj(chat), from: userObj(user), user_chat_id: user, date: 1 } };
    case "message_reaction":
      return {
        [type]: {
          chat: chatObj(chat),
          message_id: 7,
          user: userObj(user),
          date: 1,
          old_reaction: [],
          new_reaction: [{ type: "emoji", emoji: "👍" }],
        },
      };
    case "message_reaction_count":
      return {
        [type]: {
          chat: chatObj(chat),
          message_id: 7,
          date: 1,
          reactions: [{ type: { type: "emoji", emoji: "👍" }, total_count: 2 }],
        },
      };
    case "chat_boost":
      return {
        [type]: {
          chat: chatObj(chat),
          boost: {
            boost_id: "b",
            add_date: 1,
            expiration_date: 2,
            source: { source: "premium", user: userObj(user) },
          },
        },
      };
    case "removed_chat_boost":
      return {
        [type]: {
          chat: chatObj(chat),
          boost_id: "b",
          remove_date: 1,
          source: { source: "premium", user: userObj(user) },
        },
      };
    default:
      throw new Error(`no sample for ${type}`);
  }
}

// Update types whose sender can never be named: dropped whoever is involved.
export const SENDERLESS = new Set(["poll", "message_reaction_count"]);
// Types whose only party is a chat (channel posts): allowlisted through allowChats.
export const CHAT_ONLY = new Set(["channel_post", "edited_channel_post"]);
// Types that happen in no group chat: a user's own private chat at most.
export const NO_GROUP = new Set([
  "business_message",
  "edited_business_message",
  "deleted_business_messages",
  "business_connection",
  "inline_query",
  "chosen_inline_result",
  "shipping_query",
  "pre_checkout_query",
  "purchased_paid_media",
  "poll_answer",
]);
