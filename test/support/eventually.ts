/** Waiting for something another server (or a background task) will do. */

/** Polls until `check` returns a value (not undefined), or fails after `ms` with the last error it threw. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}
