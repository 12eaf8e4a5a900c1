import { type Db, sql } from "@kanal/db";
import type { FaultSystem } from "./system";
import { acknowledged, acknowledgedFirst, type Delivery } from "./traffic";

export interface Figures {
  scenario: string;
  /** Customer messages Meta sent (one wamid each). */
  webhooks: number;
  /** … answered 200 at the first attempt. */
  acknowledged: number;
  /** … not answered 200 (refused, reset, 5xx): Meta sends them again. */
  notAcknowledged: number;
  /** The first attempts' answers by HTTP status (0: none — refused, reset or timed out). */
  firstAnswers: string;
  /** Deliveries repeated until each got its 200. */
  redelivered: number;
  /** Distinct wamids stored as messages. */
  stored: number;
  /** Message rows beyond one per wamid. */
  duplicates: number;
  /** Acknowledged (first time or on a retry) but not stored. */
  lost: number;
  /** Stored webhook events of the scenario, by outcome. */
  eventsProcessed: number;
  eventsPending: number;
  eventsDead: number;
  /** Customers with more than one open conversation. */
  doubleConversations: number;
  /** Replies the API answered 202. */
  repliesAccepted: number;
  /** Replies stored by the API although their request got no answer (the API died under it). */
  repliesUnacknowledged: number;
  /** Replies (accepted or stored) the simulator received at least once. */
  repliesReceived: number;
  /** Simulator receipts beyond one per reply. */
  repliesDuplicated: number;
  /** Stored replies the simulator never received. */
  repliesMissing: number;
  /** Seconds from the end of the load and Meta's retries until everything was processed and sent. */
  quiescenceSeconds: number;
  notes?: string;
}

interface SimSent {
  bizOpaqueCallbackData?: string;
  acceptedAt?: string;
  wamid?: string;
}

async function simSent(system: FaultSystem): Promise<SimSent[]> {
  const res = await fetch(`${system.simUrl}/_sim/sent`);
  return ((await res.json()) as { messages: SimSent[] }).messages;
}

/** The agents' replies stored in a time window, from every bank. */
async function storedReplies(system: FaultSystem, from: Date, to: Date): Promise<string[]> {
  const ids: string[] = [];
  const agents = system.agents.map((a) => a.userId);
  for (const bank of system.banks) {
    const rows = await system.db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .select("id")
      .where("direction", "=", "outbound")
      .where("author_user_id", "in", agents)
      .where("created_at", ">=", from)
      .where("created_at", "<=", to)
      .execute();
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}

/** Work still under way anywhere: pending events, unsent messages, outbox rows. */
async function unfinished(db: Db, system: FaultSystem): Promise<number> {
  const pending = await db
    .withSchema("control")
    .selectFrom("webhook_events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("status", "=", "pending")
    .executeTakeFirstOrThrow();
  const outbox = await db
    .withSchema("control")
    .selectFrom("outbox")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  let unsent = 0;
  for (const bank of system.banks) {
    const row = await db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("status", "in", ["queued", "sending"])
      .executeTakeFirstOrThrow();
    unsent += Number(row.n);
  }
  return Number(pending.n) + Number(outbox.n) + unsent;
}

/**
 * Waits until nothing is pending, unsent or unrelayed and every stored reply of the window reached the
 * simulator, twice in a row a second apart. Returns the seconds it took (throws after `timeoutMs`).
 */
export async function quiescence(system: FaultSystem, from: Date, timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  let calm = 0;
  let last = "";
  while (Date.now() - started < timeoutMs) {
    try {
      const open = await unfinished(system.db, system);
      const replies = await storedReplies(system, from, new Date());
      const received = new Set((await simSent(system)).map((m) => m.bizOpaqueCallbackData));
      const notYet = replies.filter((id) => !received.has(id)).length;
      last = `${open} unfinished, ${notYet} replies not received`;
      calm = open === 0 && notYet === 0 ? calm + 1 : 0;
      if (calm >= 2) return (Date.now() - started) / 1000;
    } catch (error) {
      last = (error as Error).message;
      calm = 0;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`not quiescent after ${timeoutMs} ms: ${last}`);
}

export async function countFigures(
  system: FaultSystem,
  input: {
    scenario: string;
    tag: string;
    deliveries: Delivery[];
    redelivered: number;
    accepted: Set<string>;
    from: Date;
    to: Date;
    quiescenceSeconds: number;
  },
): Promise<Figures> {
  const { db } = system;
  const like = `wamid.fault.${input.tag}.%`;
  const stored = new Map<string, number>();
  let doubleConversations = 0;
  for (const bank of system.banks) {
    const rows = await db
      .withSchema(bank.schema)
      .selectFrom("messages")
      .select(["wamid", (eb) => eb.fn.countAll<string>().as("n")])
      .where("wamid", "like", like)
      .groupBy("wamid")
      .execute();
    for (const r of rows) stored.set(r.wamid as string, (stored.get(r.wamid as string) ?? 0) + Number(r.n));
    const doubles = await sql<{ n: string }>`
      select count(*)::text as n from (
        select customer_id from ${sql.id(bank.schema, "conversations")}
        where status <> 'closed' group by customer_id having count(*) > 1) d`.execute(db);
    doubleConversations += Number(doubles.rows[0]?.n ?? 0);
  }
  const events = await sql<{ status: string; n: string }>`
    select status, count(*)::text as n from control.webhook_events
    where body like ${`%"wamid.fault.${input.tag}.%`} group by status`.execute(db);
  const eventCount = (status: string) => Number(events.rows.find((r) => r.status === status)?.n ?? 0);

  const replies = new Set([...(await storedReplies(system, input.from, input.to)), ...input.accepted]);
  const receipts = new Map<string, number>();
  for (const m of await simSent(system)) {
    if (m.bizOpaqueCallbackData && replies.has(m.bizOpaqueCallbackData))
      receipts.set(m.bizOpaqueCallbackData, (receipts.get(m.bizOpaqueCallbackData) ?? 0) + 1);
  }
  const doubled = [...receipts].filter(([, n]) => n > 1).map(([id]) => id);
  if (doubled.length > 0) {
    // What a failing run needs to be understood: the rows and the simulator's receipts of those replies.
    const sent = (await simSent(system)).filter(
      (m) => m.bizOpaqueCallbackData && doubled.includes(m.bizOpaqueCallbackData),
    );
    for (const bank of system.banks) {
      const rows = await db
        .withSchema(bank.schema)
        .selectFrom("messages")
        .selectAll()
        .where("id", "in", doubled)
        .execute();
      for (const row of rows) console.error(`sent twice: ${JSON.stringify({ ...row, text: undefined })}`);
    }
    for (const m of sent) console.error(`simulator receipt: ${JSON.stringify({ ...m, body: undefined })}`);
  }
  const acked = input.deliveries.filter(acknowledged);
  return {
    scenario: input.scenario,
    webhooks: input.deliveries.length,
    acknowledged: input.deliveries.filter(acknowledgedFirst).length,
    notAcknowledged: input.deliveries.filter((d) => !acknowledgedFirst(d)).length,
    firstAnswers: answersByStatus(input.deliveries),
    redelivered: input.redelivered,
    stored: stored.size,
    duplicates: [...stored.values()].reduce((sum, n) => sum + n - 1, 0),
    lost: acked.filter((d) => !stored.has(d.wamid)).length,
    eventsProcessed: eventCount("processed"),
    eventsPending: eventCount("pending"),
    eventsDead: eventCount("dead"),
    doubleConversations,
    repliesAccepted: input.accepted.size,
    repliesUnacknowledged: [...replies].filter((id) => !input.accepted.has(id)).length,
    repliesReceived: receipts.size,
    repliesDuplicated: [...receipts.values()].reduce((sum, n) => sum + n - 1, 0),
    repliesMissing: [...replies].filter((id) => !receipts.has(id)).length,
    quiescenceSeconds: Math.round(input.quiescenceSeconds),
  };
}

/** "200×2711, 0×289": how the first attempts were answered. */
function answersByStatus(deliveries: Delivery[]): string {
  const counts = new Map<number, number>();
  for (const d of deliveries) counts.set(d.attempts[0] ?? 0, (counts.get(d.attempts[0] ?? 0) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([status, n]) => `${status}×${n}`)
    .join(", ");
}
