/**
 * What push evaluation adds to persisting a message into a big room: one
 * room of N local members (default 1,000), M messages sent through the
 * engine with evaluation on and off, interleaved in rounds so that drift
 * in the machine's speed hits both alike. Prints the time per message
 * (mean, median, p95), the first message after start (every member's rules
 * compiled then), and the rows written. Not a test: it asserts nothing.
 *
 *   npm run build && node dist/test/bench/push-fanout.js [members=1000] [messages=100] [sqlite|postgres]
 *
 * postgres needs TEST_POSTGRES_URL (a fresh database is made and dropped).
 * SQLite runs with the default synchronous=full, as a server would.
 */
import { startHomeserver } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { createTestDatabase, type Engine } from "../support/databases.js";

const members = Math.max(2, Math.min(Number(process.argv[2] ?? 1000), 20_000));
const messages = Math.max(10, Math.min(Number(process.argv[3] ?? 100), 10_000));
const engine = (process.argv[4] ?? "sqlite") as Engine;
const ROUNDS = 5;

const db = await createTestDatabase(engine);
const sync = process.env.BENCH_SQLITE_SYNCHRONOUS === "normal" ? "normal" : "full";
const server = await startHomeserver(db.config({ server_name: "bench.test", database: { engine, sqlite_synchronous: sync } }), createLogger("error"));
const hs = server.context;
try {
  const creator = "@u0:bench.test";
  const roomId = (await hs.localEvents.createRoom(creator, "10")).event.roomId;
  const send = (sender: string, type: string, content: Record<string, unknown>, stateKey?: string) =>
    hs.localEvents.send(roomId, { type, sender, content: content as never, stateKey });
  await send(creator, "m.room.member", { membership: "join" }, creator);
  await send(creator, "m.room.power_levels", { users: { [creator]: 100 } }, "");
  await send(creator, "m.room.join_rules", { join_rule: "public" }, "");
  const setupStart = Date.now();
  for (let i = 1; i < members; i++) await send(`@u${i}:bench.test`, "m.room.member", { membership: "join" }, `@u${i}:bench.test`);
  console.log(`${engine}: room of ${members} local members joined in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);

  // Outcomes are written per event in its transaction, then expanded to a row per user shortly after.
  const rows = async () => {
    await hs.push.actions.expand();
    return Number((await hs.db.knex("event_push_actions").count({ n: "*" }).first())?.n ?? 0);
  };
  let n = 0;
  const message = (sender: string) => send(sender, "m.room.message", { msgtype: "m.text", body: `message ${n++}` });

  // The first message with evaluation on: every member's rules are read and compiled.
  hs.push.fanout.enabled = true;
  let t = performance.now();
  await message("@u1:bench.test");
  const cold = performance.now() - t;
  const rowsPerMessage = await rows();

  const on: number[] = [];
  const off: number[] = [];
  // Wall time of each mode's rounds, the expansion of its outcomes included: the amortised cost per message.
  const wall = { on: 0, off: 0 };
  const per = Math.ceil(messages / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [enabled, into] of [[true, on], [false, off]] as const) {
      hs.push.fanout.enabled = enabled;
      const start = performance.now();
      for (let i = 0; i < per; i++) {
        t = performance.now();
        await message(`@u${1 + (i % (members - 1))}:bench.test`);
        into.push(performance.now() - t);
      }
      await hs.push.actions.expand();
      wall[enabled ? "on" : "off"] += performance.now() - start;
    }
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    return { mean, median: s[Math.floor(s.length / 2)], p95: s[Math.floor(s.length * 0.95)] };
  };
  const a = stats(on);
  const b = stats(off);
  const f = (x: number) => x.toFixed(2).padStart(7);
  console.log(`messages per mode: ${on.length}; per-user rows per message: ${rowsPerMessage}; first message, rules compiled: ${cold.toFixed(1)} ms`);
  console.log(`                       mean   median      p95   (ms per message)`);
  console.log(`push evaluation on  ${f(a.mean)}  ${f(a.median)}  ${f(a.p95)}`);
  console.log(`push evaluation off ${f(b.mean)}  ${f(b.median)}  ${f(b.p95)}`);
  console.log(`evaluation adds ${(a.mean - b.mean).toFixed(2)} ms per message to the send (${(((a.mean - b.mean) / b.mean) * 100).toFixed(0)}%)`);
  console.log(`amortised with the expansion into per-user rows: ${(wall.on / on.length).toFixed(2)} ms per message on, ${(wall.off / off.length).toFixed(2)} ms off; total rows ${await rows()}`);
} finally {
  await server.stop();
  await db.dispose();
}
