import { randomFillSync } from "node:crypto";

// Random bytes for ids (wamids, pricing conversations) from a pool refilled 64 KB at a time: one
// `randomBytes` call per id was a tenth of the simulator's CPU at 1,600 sends/s.
const pool = Buffer.alloc(64 * 1024);
let offset = pool.length;

/** `n` random bytes as lowercase hex (cryptographically random, like `randomBytes(n).toString("hex")`). */
export function randomHex(n: number): string {
  if (n > pool.length) throw new RangeError("randomHex: too many bytes at once");
  if (offset + n > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + n);
  offset += n;
  return hex;
}
