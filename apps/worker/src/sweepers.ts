import { sweepBankWebhooks } from "@kanal/core/bank-webhooks";
import { requeueUnfinishedJobs, sweepPendingWebhooks } from "@kanal/core/channel";
import { sweepOutbox } from "@kanal/core/outbox";
import type { Services } from "@kanal/core/runtime";

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
 * worker keeps a marker key in Redis; when it finds the marker gone (checked on a timer and whenever the
 * connection is ready again) it rebuilds those jobs from Postgres — every pending event, every outbound
 * message not sent yet, every media file not fetched yet — and registers the job schedulers again.
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
  // Right away at start (a worker starting against an empty Redis rebuilds its jobs) and at each reconnect.
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
 * Sets the marker when it is missing; if it was missing, Redis is empty (first start, or its data is
 * gone): rebuilds the jobs from Postgres. Returns how many jobs it rebuilt (0: Redis had its data).
 */
async function recoverIfRedisLostData(
  services: Services,
  registerSchedules?: () => Promise<void>,
): Promise<number> {
  const marker = `${services.config.QUEUE_PREFIX}:redis-data-marker`;
  const set = await services.redis.set(marker, new Date().toISOString(), "NX");
  if (set !== "OK") return 0;
  services.logger.warn("Redis holds no data of this deployment (first start, or lost): rebuilding jobs");
  try {
    await registerSchedules?.();
    // Every pending event now, not only those older than the sweeper's margin: their jobs are gone. (Up
    // to 50,000 — one statement marks them, within Postgres' 65,535 parameters; the sweeper takes the rest.)
    const events = await sweepPendingWebhooks(services.db, services.queues, {
      olderThanSeconds: 0,
      limit: 50_000,
    });
    const { sends, media } = await requeueUnfinishedJobs(services);
    services.logger.warn({ events, sends, media }, "jobs rebuilt from Postgres");
    return events + sends + media;
  } catch (error) {
    // Not rebuilt: take the marker away again, so the next check tries once more.
    await services.redis.del(marker).catch(() => undefined);
    throw error;
  }
}
