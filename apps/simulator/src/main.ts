import { createSimulator } from "./app";

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

const simulator = createSimulator({
  webhookUrl: process.env.KANAL_WEBHOOK_URL || "http://127.0.0.1:3000/webhooks/whatsapp",
  appSecret: process.env.WHATSAPP_APP_SECRET || "dev-app-secret",
  statusDelayMs: numberFromEnv("SIM_STATUS_DELAY_MS", 300),
});
const running = await simulator.listen(numberFromEnv("SIM_PORT", 3100), process.env.SIM_HOST || "127.0.0.1");
console.log(
  `WhatsApp simulator on http://${process.env.SIM_HOST || "127.0.0.1"}:${running.port} → webhooks to ${simulator.state.config.webhookUrl}`,
);

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal} received, closing the simulator`);
  await running.close();
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));
