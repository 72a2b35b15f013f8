/**
 * A small JSON client over node:http for the load generator: one keep-alive
 * Agent with no socket limit (every long-poll holds its own socket), a
 * timeout per request, and errors returned as values so the caller can
 * count them by kind instead of throwing.
 */
import { Agent, request } from "node:http";

export const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 100_000 });

export interface Reply {
  status: number; // 0 when no HTTP answer came (socket error, timeout)
  body: any;
  error?: string; // the kind of failure, for counting: "http 502", "ECONNRESET", "timeout"
  at: number; // now() when the reply's last byte came (before parsing)
}

/** Monotonic milliseconds (CLOCK_MONOTONIC, shared by every process on the host). */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Reply> {
  return new Promise((resolve) => {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    }
    let done = false;
    const finish = (r: Reply) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    const req = request(base + path, { method, agent, headers, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => finish({ status: 0, body: undefined, error: (e as NodeJS.ErrnoException).code ?? e.message, at: now() }));
      res.on("end", () => {
        const at = now();
        const status = res.statusCode ?? 0;
        let body: any;
        try {
          body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
        } catch {
          body = undefined;
        }
        finish({ status, body, error: status >= 200 && status < 300 ? undefined : `http ${status}${body?.errcode ? ` ${body.errcode}` : ""}`, at });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => {
      req.destroy();
      finish({ status: 0, body: undefined, error: "timeout", at: now() });
    });
    req.on("error", (e: NodeJS.ErrnoException) => finish({ status: 0, body: undefined, error: e.name === "AbortError" ? "aborted" : (e.code ?? e.message), at: now() }));
    if (payload) req.write(payload);
    req.end();
  });
}

/** Runs fn over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

/** A small deterministic PRNG (mulberry32), so a seed gives the same room shape and send plan. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
