import { deleteExpiredSessions } from "@kanal/core/auth";
import { defineProcessor } from "../../registry";

/**
 * Expired sessions are refused by lucia already; this keeps the table (who signed in, from which address,
 * with which browser) from growing for ever. The API also sweeps opportunistically at sign-in.
 */
export const sessionsProcessor = defineProcessor({
  queue: "maintenance",
  schedules: [{ jobName: "sessions-sweep", everyMs: 60 * 60_000 }],
  handlers: {
    "sessions-sweep": async (_data, { services }) => ({ deleted: await deleteExpiredSessions(services.db) }),
  },
});
