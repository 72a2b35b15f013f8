/**
 * The cost of idle /sync long-polls: N users each hold one open, nobody
 * talks. Prints the server's RSS before and with the polls held, and its
 * CPU time while they wait. Loopback only; bounded in users and seconds.
 *
 *   npm run build && node dist/test/bench/idle-sync.js [users=1000] [seconds=20]
 *
 * The server runs in this process (SQLite in a temporary directory), so
 * the client side's memory is excluded by measuring before the clients
 * start polling and while they wait, from a child server process.
 */
import { fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "node:http";

const users = Math.min(Number(process.argv[2] ?? 1000), 20_000);
const seconds = Math.min(Number(process.argv[3] ?? 20), 120);

if (process.env.IDLE_SYNC_CHILD) {
  // The server side: start, report the URL, answer "stats" with RSS and CPU.
  const { loadConfig } = await import("../../src/config.js");
  const { startHomeserver } = await import("../../src/homeserver.js");
  const { createLogger } = await import("../../src/logger.js");
  const off = { per_second: 0, burst: 1 };
  const config = loadConfig({
    env: {},
    overrides: {
      data_dir: process.env.IDLE_SYNC_CHILD, port: 0, server_name: "bench.test", log_level: "error",
      registration: { enabled: true }, rate_limits: { message: off, login: off, registration: off },
      database: { sqlite_synchronous: "normal" },
    },
  });
  const server = await startHomeserver(config, createLogger("error"));
  process.send?.({ url: server.url });
  process.on("message", (m: string) => {
    if (m === "stats") {
      global.gc?.();
      const cpu = process.cpuUsage();
      process.send?.({ rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000, waiting: server.context.notifier.waiting });
    } else if (m === "stop") {
      void server.stop().then(() => process.exit(0));
    }
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), "idle-sync-"));
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, IDLE_SYNC_CHILD: dir }, execArgv: ["--expose-gc"] });
  const next = () => new Promise<any>((resolve) => child.once("message", resolve));
  const { url } = await next();
  const stats = async () => {
    child.send("stats");
    return next();
  };
  // One socket per poll: node:http without a socket limit.
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const longPoll = (path: string, token: string, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const req = request(url + path, { agent, headers: { authorization: `Bearer ${token}` }, signal }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      req.on("error", () => resolve());
      req.end();
    });
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(url + path, { method: "POST", body: JSON.stringify(body), headers: token ? { authorization: `Bearer ${token}` } : {} });
    return (await res.json()) as any;
  };
  const tokens: string[] = [];
  for (let i = 0; i < users; i++) {
    const first = await post("/_matrix/client/v3/register", { username: `u${i}`, password: "pw" });
    const done = await post("/_matrix/client/v3/register", { username: `u${i}`, password: "pw", auth: { type: "m.login.dummy", session: first.session } });
    tokens.push(done.access_token);
  }
  const room = await post("/_matrix/client/v3/createRoom", { preset: "public_chat" }, tokens[0]);
  for (const t of tokens.slice(1)) await post(`/_matrix/client/v3/join/${room.room_id}`, {}, t);
  // Two rounds: the first sync of each user marks them online, which the others' next sync would report.
  const sinceOf = new Map<string, string>();
  for (let round = 0; round < 2; round++) {
    for (const t of tokens) {
      const since = sinceOf.get(t);
      const res = await fetch(`${url}/_matrix/client/v3/sync?timeout=0${since ? `&since=${since}` : ""}`, { headers: { authorization: `Bearer ${t}` } });
      sinceOf.set(t, ((await res.json()) as any).next_batch);
    }
  }
  await new Promise((r) => setTimeout(r, 1000));
  const before = await stats();
  const ctrl = new AbortController();
  setMaxListeners(0, ctrl.signal);
  const polls = tokens.map((t) => longPoll(`/_matrix/client/v3/sync?timeout=${(seconds + 30) * 1000}&since=${sinceOf.get(t)}`, t, ctrl.signal));
  await new Promise((r) => setTimeout(r, 3000));
  const held = await stats();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = await stats();
  ctrl.abort();
  await Promise.all(polls);
  child.send("stop");
  await new Promise((r) => child.once("exit", r));
  rmSync(dir, { recursive: true, force: true });

  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  console.log(`idle /sync long-polls: ${users} users, ${seconds} s`);
  console.log(`requests waiting on the notifier: ${after.waiting}`);
  console.log(`server RSS: ${mb(before.rss)} MB before, ${mb(after.rss)} MB holding the polls (+${mb(after.rss - before.rss)} MB, ${((after.rss - before.rss) / users / 1024).toFixed(1)} KiB per poll)`);
  console.log(`server CPU while idle: ${(after.cpuMs - held.cpuMs).toFixed(0)} ms over ${seconds} s (${(((after.cpuMs - held.cpuMs) / (seconds * 1000)) * 100).toFixed(2)}% of one core)`);
}
