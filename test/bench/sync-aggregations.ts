/**
 * What bundled aggregations add to /sync: the time of a /sync with a
 * 50-event timeline, and of the aggregation step alone on the same 50
 * events, in a room where nothing relates to anything and in one full of
 * edits, threads and reactions. In-process server, SQLite in a temporary
 * directory, loopback only, bounded in rounds.
 *
 *   npm run build && node dist/test/bench/sync-aggregations.js [rounds=200]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../../src/config.js";
import { startHomeserver } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { RelationAggregator } from "../../src/relations/aggregations.js";
import { RelationStore } from "../../src/storage/relation-store.js";

const rounds = Math.min(Math.max(Number(process.argv[2] ?? 200), 1), 5000);
const dir = mkdtempSync(join(tmpdir(), "sync-aggregations-"));
const off = { per_second: 0, burst: 1 };
const config = loadConfig({
  env: {},
  overrides: {
    data_dir: dir, port: 0, bind_address: "127.0.0.1", server_name: "bench.test", log_level: "error",
    registration: { enabled: true }, rate_limits: { message: off, login: off, registration: off },
  },
});
const server = await startHomeserver(config, createLogger("error"));
const url = server.url;
const call = async (method: string, path: string, body?: unknown, token?: string) => {
  const res = await fetch(url + path, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return (await res.json()) as any;
};
let txn = 0;
const send = async (token: string, roomId: string, content: unknown, type = "m.room.message") =>
  (await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/${type}/b${++txn}`, content, token)).event_id as string;

try {
  const first = await call("POST", "/_matrix/client/v3/register", { username: "bench", password: "pw" });
  const me = await call("POST", "/_matrix/client/v3/register", { username: "bench", password: "pw", auth: { type: "m.login.dummy", session: first.session } });
  const token = me.access_token as string;

  const plain = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" }, token)).room_id as string;
  for (let i = 0; i < 60; i++) await send(token, plain, { msgtype: "m.text", body: `plain ${i}` });

  // Every other message is a thread root with two replies and an edit; replies get reactions.
  const busy = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" }, token)).room_id as string;
  for (let i = 0; i < 30; i++) {
    const root = await send(token, busy, { msgtype: "m.text", body: `root ${i}` });
    await send(token, busy, { msgtype: "m.text", body: "* e", "m.new_content": { msgtype: "m.text", body: "e" }, "m.relates_to": { rel_type: "m.replace", event_id: root } });
    for (let j = 0; j < 2; j++) {
      const reply = await send(token, busy, { msgtype: "m.text", body: `reply ${j}`, "m.relates_to": { rel_type: "m.thread", event_id: root } });
      await send(token, busy, { "m.relates_to": { rel_type: "m.annotation", event_id: reply, key: "👍" } }, "m.reaction");
    }
    await send(token, busy, { msgtype: "m.text", body: `between ${i}` });
  }

  const hs = server.context;
  const aggregator = new RelationAggregator(hs, new RelationStore(hs.db));
  const newest = async (roomId: string) => {
    const rows: { event_id: string }[] = await hs.db.knex("events").where({ room_id: roomId }).whereNotNull("stream_ordering")
      .orderBy("stream_ordering", "desc").limit(50).select("event_id");
    const got = await hs.events.getEvents(rows.map((r) => r.event_id));
    return rows.map((r) => got.get(r.event_id)!.event).reverse();
  };

  const measure = async (roomId: string, label: string) => {
    const filter = encodeURIComponent(JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 50 } }, presence: { types: [] } }));
    const events = await newest(roomId);
    // Warm caches first.
    for (let i = 0; i < 10; i++) await call("GET", `/_matrix/client/v3/sync?filter=${filter}`, undefined, token);
    let t = performance.now();
    for (let i = 0; i < rounds; i++) await call("GET", `/_matrix/client/v3/sync?filter=${filter}`, undefined, token);
    const syncMs = (performance.now() - t) / rounds;
    t = performance.now();
    for (let i = 0; i < rounds; i++) {
      const rendered = events.map((e) => ({ event_id: e.eventId, unsigned: {} }));
      await aggregator.bundle(me.user_id, events, rendered, { omitRoomId: true });
    }
    const bundleMs = (performance.now() - t) / rounds;
    const bundled = (await call("GET", `/_matrix/client/v3/sync?filter=${filter}`, undefined, token)).rooms.join[roomId].timeline.events
      .filter((e: any) => e.unsigned?.["m.relations"]).length;
    console.log(`${label}: /sync (50-event timeline) ${syncMs.toFixed(2)} ms; aggregation step ${bundleMs.toFixed(3)} ms (${((bundleMs / syncMs) * 100).toFixed(1)}%); events with m.relations: ${bundled}`);
  };
  console.log(`sync aggregations, ${rounds} rounds each, SQLite`);
  await measure(plain, "room without relations");
  await measure(busy, "room of threads, edits and reactions");
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
