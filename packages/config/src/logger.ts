import { pino, type DestinationStream, type Logger } from "pino";

// Message texts, tokens and secrets must never reach the logs: these paths are redacted wherever
// they appear, and call sites log ids and counts, not bodies.
const REDACT = [
  "password",
  "*.password",
  "accessToken",
  "*.accessToken",
  "token",
  "*.token",
  "text",
  "*.text",
  "body",
  "*.body",
  "authorization",
  "*.authorization",
  "cookie",
  "*.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
  "secret",
  "*.secret",
];

export type { Logger };

export function createLogger(
  name: string,
  level = process.env.LOG_LEVEL ?? "info",
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT, censor: "[redacted]" },
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
