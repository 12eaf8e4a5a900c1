import { randomUUID } from "node:crypto";
import { sweepBankWebhooks } from "@kanal/core/bank-webhooks";
import { requeueUnfinishedJobs, sweepPendingWebhooks } from "@kanal/core/channel";
import { sweepOutbox } from "@kanal/core/outbox";
import type { Services } from "@kanal/core/runtime";
import { sql } from "@kanal/db";

interface Sweepers {
  stop(): void;
}

interface SweeperOptions {
  outboxEveryMs?: number;
  webhooksEveryMs?: number;
  bankWebhooksEveryMs?: number;
  /** How often the worker checks that Redis still holds its data (also at every reconnect). */
  redisCheckEveryMs?: number;
  /** Puts back what lives only in Redis and is not derived from rows: the job schedulers. */
  registerSchedules?: () => Promise<void>;
}

/**
 * The durability sweepers run from timers in the worker process, not as BullMQ job schedulers: a
 * scheduler lives in Redis, and a Redis that loses its data would take with it the very job that
 * re-enqueues what that loss stranded (stored webhook events, outbox rows). Several workers sweeping at
 * once is safe: the outbox sweep locks its rows, and webhook processing is idempotent.
 *
 * A Redis that lost its data (restarted without persistence, failed over to an empty replica, flushed)
 * also lost the jobs already relayed: the events' batches, the replies' sends, the media downloads. The
 * worker keeps a marker key in Redis whose value Postgres remembers; when it finds the marker gone or
 * changed (checked on a timer and whenever the connection is ready again) it rebuilds those jobs from
 * Postgres — every pending event, every outbound message not sent yet, every media file not fetched
 * yet — and registers the job schedulers again.
 */
export function startSweepers(services: Services, options: SweeperOptions = {}): Sweepers {
  const every = (name: string, ms: number, sweep: () => Promise<number>) => {
    let running = false;
    const run = () => {
      if (running) return;
      running = true;
      sweep()
        .then((n) => {
          if (n > 0) services.logger.info({ sweeper: name, count: n }, "swept");
        })
        .catch((error: Error) => services.logger.warn({ sweeper: name, err: error.message }, "sweep failed"))
        .finally(() => {
          running = false;
        });
    };
    const timer = setInterval(run, ms);
    timer.unref();
    return { timer, run };
  };
  const sweepers = [
    every("outbox", options.outboxEveryMs ?? 5_000, () => sweepOutbox(services)),
    every("webhooks", options.webhooksEveryMs ?? 15_000, () =>
      sweepPendingWebhooks(services.db, services.queues),
    ),
    // Deliveries to the banks' systems whose next attempt is due but has no job (Redis lost it).
    every("bank-webhooks", options.bankWebhooksEveryMs ?? 30_000, () => sweepBankWebhooks(services)),
  ];
  const redisCheck = every("redis-data", options.redisCheckEveryMs ?? 15_000, () =>
    recoverIfRedisLostData(services, options.registerSchedules),
  );
  sweepers.push(redisCheck);
  // Right away at start (a worker starting against a Redis that lost its data rebuilds) and at each reconnect.
  const onReady = () => redisCheck.run();
  services.redis.on("ready", onReady);
  if (services.redis.status === "ready") onReady();
  return {
    stop() {
      services.redis.off("ready", onReady);
      for (const sweeper of sweepers) clearInterval(sweeper.timer);
    },
  };
}

/**
 * Whether Redis lost this deployment's data, judged against Postgres: the marker key in Redis holds an
 * epoch that `control.redis_epochs` remembers. Marker and row agree: Redis has its data. No row yet: the
 * first start of this deployment on this database (nothing was ever relayed through another Redis), so
 * the marker is set and nothing is rebuilt. A row but the marker gone or different: the data is lost —
 * the jobs are rebuilt from Postgres and a new epoch is recorded. Under an advisory lock, so of several
 * workers one rebuilds. Returns how many jobs it rebuilt.
 */
async function recoverIfRedisLostData(
  services: Services,
  registerSchedules?: () => Promise<void>,
): Promise<number> {
  const prefix = services.config.QUEUE_PREFIX;
  const markerKey = `${prefix}:redis-data-marker`;
  return services.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`kanal.redis-epoch:${prefix}`}, 0))`.execute(
      trx,
    );
    const recorded = await trx
      .withSchema("control")
      .selectFrom("redis_epochs")
      .select("epoch")
      .where("prefix", "=", prefix)
      .executeTakeFirst();
    const current = await services.redis.get(markerKey);
    if (recorded && current === recorded.epoch) return 0;
    const remember = async (epoch: string) => {
      await services.redis.set(markerKey, epoch);
      await trx
        .withSchema("control")
        .insertInto("redis_epochs")
        .values({ prefix, epoch })
        .onConflict((oc) => oc.column("prefix").doUpdateSet({ epoch, updated_at: new Date() }))
        .execute();
    };
    if (!recorded) {
      await remember(current ?? randomUUID());
      return 0;
    }
    services.logger.warn("Redis lost this deployment's data: rebuilding the jobs from Postgres");
    await registerSchedules?.();
    // Every pending event now, not only those older than the sweeper's margin: their jobs are gone. (Up
    // to 50,000 — one statement marks them, within Postgres' 65,535 parameters; the sweeper takes the rest.)
    const events = await sweepPendingWebhooks(services.db, services.queues, {
      olderThanSeconds: 0,
      limit: 50_000,
    });
    const { sends, media } = await requeueUnfinishedJobs(services);
    // Recorded only once the jobs are back: a rebuild that fails is tried again at the next check.
    await remember(randomUUID());
    services.logger.warn({ events, sends, media }, "jobs rebuilt from Postgres");
    return events + sends + media;
  });
}
