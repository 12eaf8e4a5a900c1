import type { NumberSettings } from "./options";
import { createSimulator } from "./app";
import { demoTemplates } from "./templates";

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** `SIM_NUMBERS="100000000000001=+49 89 1000001,100000000000002"`: business numbers to show on the phone page. */
function numbersFromEnv(raw: string | undefined): Record<string, NumberSettings> {
  const numbers: Record<string, NumberSettings> = {};
  for (const item of (raw ?? "").split(",")) {
    const [phoneNumberId, displayPhoneNumber] = item.split("=").map((part) => part.trim());
    if (!phoneNumberId) continue;
    numbers[phoneNumberId] = displayPhoneNumber ? { displayPhoneNumber } : {};
  }
  return numbers;
}

const simulator = createSimulator({
  numbers: numbersFromEnv(process.env.SIM_NUMBERS),
  // `SIM_DEMO_WABAS="200000000000001,…"`: WhatsApp Business Accounts that start with the demo templates.
  templates: (process.env.SIM_DEMO_WABAS ?? "")
    .split(",")
    .map((id) => id.trim())
    .filter(Boolean)
    .flatMap(demoTemplates),
  webhookUrl: process.env.KANAL_WEBHOOK_URL || "http://127.0.0.1:3000/webhooks/whatsapp",
  appSecret: process.env.WHATSAPP_APP_SECRET || "dev-app-secret",
  statusDelayMs: numberFromEnv("SIM_STATUS_DELAY_MS", 300),
  statusBatchMs: numberFromEnv("SIM_STATUS_BATCH_MS", 0),
});
const running = await simulator.listen(numberFromEnv("SIM_PORT", 3100), process.env.SIM_HOST || "127.0.0.1");
console.log(
  `WhatsApp simulator on http://${process.env.SIM_HOST || "127.0.0.1"}:${running.port} → webhooks to ${simulator.state.config.webhookUrl}`,
);

// SIGTERM/SIGINT: stop pending webhooks and held requests and close the server; past the deadline
// (SHUTDOWN_DEADLINE_MS) exit anyway.
let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  const deadlineMs = numberFromEnv("SHUTDOWN_DEADLINE_MS", 10_000);
  console.log(`${signal} received, closing the simulator (deadline ${deadlineMs} ms)`);
  setTimeout(() => {
    console.error("simulator: shutdown deadline passed; exiting");
    process.exit(1);
  }, deadlineMs).unref();
  await running.close();
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));
