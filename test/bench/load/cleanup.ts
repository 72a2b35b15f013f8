/**
 * Everything the bench starts registers how to undo it here; the undo runs
 * in reverse order on normal exit, on error, on SIGINT/SIGTERM and when the
 * overall deadline passes, so no server, client or cgroup outlives the run.
 */
type Undo = () => Promise<void> | void;
const undos: Array<{ name: string; fn: Undo }> = [];
let running: Promise<void> | undefined;

export function onCleanup(name: string, fn: Undo): () => Promise<void> {
  const entry = { name, fn };
  undos.push(entry);
  // Undo one entry early (and forget it).
  return async () => {
    const i = undos.indexOf(entry);
    if (i >= 0) {
      undos.splice(i, 1);
      await fn();
    }
  };
}

export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (undos.length) {
      const { name, fn } = undos.pop()!;
      try {
        await Promise.race([fn(), new Promise((r) => setTimeout(r, 15_000))]);
      } catch (err) {
        process.stderr.write(`cleanup ${name}: ${String(err)}\n`);
      }
    }
  })();
  return running;
}

export function installSignalHandlers(deadlineMs: number): void {
  const bail = (why: string, code: number) => {
    process.stderr.write(`\nbench: ${why}; stopping everything it started\n`);
    void cleanupAll().then(() => process.exit(code));
  };
  process.once("SIGINT", () => bail("interrupted", 130));
  process.once("SIGTERM", () => bail("terminated", 143));
  process.on("uncaughtException", (err) => bail(`error: ${err.stack ?? err}`, 1));
  process.on("unhandledRejection", (err) => bail(`error: ${(err as Error)?.stack ?? err}`, 1));
  const t = setTimeout(() => bail(`overall deadline of ${Math.round(deadlineMs / 60000)} min passed`, 124), deadlineMs);
  t.unref();
}
