import type { NewMessage } from "@kanal/db";
import type { BankRef } from "../kernel/domain-events";
import type { Trx } from "../kernel/executor";
import { maskForStorage } from "../rules/guard";

/** Rows per INSERT statement when many messages are written at once. */
const INSERT_CHUNK = 1_000;

export type OutboundRow = Omit<NewMessage, "direction" | "status" | "text"> & { text: string };

/**
 * Appends outbound messages (replies, system messages, notifications) to their conversations, `queued`
 * for dispatch: every text passes the data-protection guard before it is stored (a card number an agent
 * typed is stored, and therefore sent, masked). A reply also moves the conversation's last activity and
 * its first response.
 */
export async function appendOutbound(
  trx: Trx,
  bank: BankRef,
  rows: readonly OutboundRow[],
  options: { reply?: { conversationId: string; at: Date } } = {},
): Promise<void> {
  const t = trx.withSchema(bank.schema);
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await t
      .insertInto("messages")
      .values(
        rows.slice(i, i + INSERT_CHUNK).map((r) => ({
          ...r,
          direction: "outbound" as const,
          status: "queued",
          text: maskForStorage(r.text).text,
        })),
      )
      .execute();
  }
  if (options.reply) {
    const at = options.reply.at;
    await t
      .updateTable("conversations")
      .set((eb) => ({
        last_message_at: at,
        first_response_at: eb.fn.coalesce("first_response_at", eb.val(at)),
      }))
      .where("id", "=", options.reply.conversationId)
      .execute();
  }
}
