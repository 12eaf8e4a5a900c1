import { exitUnlessServices } from "./services-check";

await exitUnlessServices(
  process.env.DATABASE_URL ?? "postgres://localhost:5432/kanal",
  process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
);
