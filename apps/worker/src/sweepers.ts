import { sweepBankWebhooks } from "@kanal/core/bank-webhooks";
import { sweepPendingWebhooks } from "@kanal/core/channel";
import { sweepOutbox } from "@kanal/core/outbox";
import type { Services } from "@kanal/core/runtime";

interface Sweepers {
  stop(): void;
}

/**
 * The durability sweepers run from timers in the worker process, not as BullMQ job schedulers: a
 * scheduler lives in Redis, and a Redis that loses its data would take with it the very job that
 * re-enqueues what that loss stranded (stored webhook events, outbox rows). Several workers sweeping at
 * once is safe: the outbox sweep locks its rows, and webhook processing is idempotent.
 */
export function startSweepers(
  services: Services,
  options: { outboxEveryMs?: number; webhooksEveryMs?: number; bankWebhooksEveryMs?: number } = {},
): Sweepers {
  const every = (name: string, ms: number, sweep: () => Promise<number>) => {
    let running = false;
    const timer = setInterval(() => {
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
    }, ms);
    timer.unref();
    return timer;
  };
  const timers = [
    every("outbox", options.outboxEveryMs ?? 5_000, () => sweepOutbox(services)),
    every("webhooks", options.webhooksEveryMs ?? 15_000, () =>
      sweepPendingWebhooks(services.db, services.queues),
    ),
    // Deliveries to the banks' systems whose next attempt is due but has no job (Redis lost it).
    every("bank-webhooks", options.bankWebhooksEveryMs ?? 30_000, () => sweepBankWebhooks(services)),
  ];
  return {
    stop() {
      for (const timer of timers) clearInterval(timer);
    },
  };
}
