import { createStripeFake } from "./index";

/**
 * The fake as a standalone server for local development: point Kanal at it with
 * STRIPE_SECRET_KEY=sk_test_local STRIPE_API_BASE_URL=http://127.0.0.1:12111. Its state is at
 * GET /__fake/state; failures are injected with POST /__fake/fail {"mode":"500","count":3} or {"down":true}.
 */
const port = Number(process.env.STRIPE_FAKE_PORT ?? 12111);
const fake = createStripeFake();
const { url } = await fake.listen(port);
process.stdout.write(`stripe-fake listening on ${url}\n`);
const stop = () => {
  void fake.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
