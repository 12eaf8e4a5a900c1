/**
 * Runs the usage reporter for one bank in its own process, so a test can SIGKILL it half-way: the
 * transaction holding the batch dies with the connection, exactly as in a crashed worker.
 * Usage: tsx billing-report.child.ts <tenantId> <schema>; configuration from the environment.
 */
import { loadConfig } from "@kanal/config";
import { reportTenantUsage } from "@kanal/core/billing";
import { createServices } from "@kanal/core/runtime";

const [tenantId, schema] = process.argv.slice(2);
if (!tenantId || !schema) throw new Error("usage: billing-report.child.ts <tenantId> <schema>");
const services = createServices(loadConfig(process.env), { name: "billing-report-child", dbPoolSize: 2 });
const result = await reportTenantUsage(
  services,
  { id: tenantId, schema },
  { batchSize: 100, concurrency: 2 },
);
process.stdout.write(`${JSON.stringify(result)}\n`);
await services.close();
