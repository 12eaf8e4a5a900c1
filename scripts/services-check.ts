import net from "node:net";

/** Reachability of Postgres and Redis with a clear message instead of a stack trace or a hang. */
function reachable(url: string, defaultPort: number, timeoutMs = 2_000): Promise<boolean> {
  const u = new URL(url);
  const host = u.hostname || "127.0.0.1";
  const port = Number(u.port || defaultPort);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export async function checkServices(databaseUrl: string, redisUrl: string): Promise<string[]> {
  const problems: string[] = [];
  if (!(await reachable(databaseUrl, 5432))) {
    problems.push(
      `Postgres is not reachable at ${new URL(databaseUrl).host} (DATABASE_URL=${redact(databaseUrl)}).\n` +
        "  Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n" +
        "  (or with Docker: docker compose -f infra/compose.yaml up -d)",
    );
  }
  if (!(await reachable(redisUrl, 6379))) {
    problems.push(
      `Redis is not reachable at ${new URL(redisUrl).host} (REDIS_URL=${redact(redisUrl)}).\n` +
        '  Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\n' +
        "  (or with Docker: docker compose -f infra/compose.yaml up -d)",
    );
  }
  return problems;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}

export async function exitUnlessServices(databaseUrl: string, redisUrl: string): Promise<void> {
  const problems = await checkServices(databaseUrl, redisUrl);
  if (problems.length > 0) {
    console.error(`\nKanal cannot start:\n\n${problems.join("\n\n")}\n`);
    process.exit(1);
  }
}
