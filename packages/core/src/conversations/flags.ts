/** Flags on a conversation (conversations.flags); the console filters and labels by them. */
export const CONVERSATION_FLAGS = {
  /** handed to the bank by the KSC or by a rule: never moves back to the KSC at closing time */
  reservedToBank: "reserved_to_bank",
  /** the rule book redirected the customer to the phone */
  redirected: "redirected",
  callbackSuggested: "callback_suggested",
  handedOverByRule: "handover_by_rule",
  /** the customer's notification thread: notifications sent outside any open chat (never routed) */
  notifications: "notifications",
  /** the conversation's topic is the bank's alone whatever the routing mode (a card alert's "not me") */
  bankOnlyTopic: "bank_only_topic",
} as const;
