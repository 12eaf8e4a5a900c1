/**
 * The roles of Kanal, defined once: the database's membership rows, the API's permission checks and
 * the console's menus all read these lists.
 */
export const ROLES = ["provider_admin", "bank_admin", "bank_agent", "bank_advisor", "ksc_agent"] as const;
export type Role = (typeof ROLES)[number];

/** A bank's administrators: configure the bank. */
export const BANK_ADMIN_ROLES = ["bank_admin"] as const satisfies readonly Role[];
/** A bank's own staff (created by its admins). */
export const BANK_STAFF_ROLES = [
  "bank_admin",
  "bank_agent",
  "bank_advisor",
] as const satisfies readonly Role[];
export type BankRole = (typeof BANK_STAFF_ROLES)[number];
/** Everybody who works on a bank's conversations: its staff and its contracted KSC's agents. */
export const CONVERSATION_ROLES = [...BANK_STAFF_ROLES, "ksc_agent"] as const satisfies readonly Role[];
/** Staff of a bank who take chats from its queues (advisors get the chats addressed to them). */
export const QUEUE_STAFF_ROLES = ["bank_admin", "bank_agent"] as const satisfies readonly Role[];

export function isBankRole(role: Role): role is BankRole {
  return (BANK_STAFF_ROLES as readonly Role[]).includes(role);
}
