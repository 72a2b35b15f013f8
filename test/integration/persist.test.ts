/**
 * The persist pipeline on a real database: a room is created and driven
 * through membership and state changes, and what is stored (events, state
 * snapshots, current state, memberships, extremities, stream positions) is
 * checked after each step, across a restart, on SQLite and PostgreSQL.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildContext, closeContext } from "../../src/homeserver.js";
import type { ServerContext } from "../../src/context.js";
import { createLogger } from "../../src/logger.js";
import { AuthError, stateKey } from "../../src/room/types.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

const log = createLogger("warn");
const ALICE = "@alice:test.local";
const BOB = "@bob:test.local";
const EVE = "@eve:test.local";

async function tableCounts(hs: ServerContext): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ["events", "event_edges", "event_auth_edges", "state_snapshots", "state_snapshot_entries", "current_state", "room_memberships", "forward_extremities", "rooms"]) {
    const row = await hs.db.knex(t).count({ n: "*" }).first();
    out[t] = Number(row?.n);
  }
  return out;
}

async function membership(hs: ServerContext, roomId: string, userId: string): Promise<string | undefined> {
  const row = await hs.db.knex("room_memberships").where({ room_id: roomId, user_id: userId }).first("membership");
  return row?.membership;
}

for (const engine of ENGINES) {
  const skip = engine === "postgres" ? postgresUnavailable() : undefined;

  for (const roomVersion of ["1", "10", "12"]) {
    describe(`persist pipeline on ${engine}, room version ${roomVersion}`, { skip }, () => {
      let db: TestDatabase;
      let hs: ServerContext;
      let roomId: string;

      before(async () => {
        db = await createTestDatabase(engine);
        hs = await buildContext(db.config({ server_name: "test.local" }), log);
      });
      after(async () => {
        if (hs) await closeContext(hs);
        await db?.dispose();
      });

      it("creates a room whose create event is the only extremity and state", async () => {
        const created = await hs.localEvents.createRoom(ALICE, roomVersion);
        roomId = created.event.roomId;
        if (roomVersion === "12") assert.equal(roomId, "!" + created.event.eventId.slice(1));
        else assert.match(roomId, /^!.+:test\.local$/);
        assert.ok(created.streamOrdering !== null && created.streamOrdering > 0);
        assert.deepEqual(await hs.events.forwardExtremities(roomId), [created.event.eventId]);
        const current = await hs.states.currentState(roomId);
        assert.deepEqual([...current], [[stateKey("m.room.create", ""), created.event.eventId]]);
        const room = await hs.rooms.get(roomId);
        assert.equal(room?.roomVersion, roomVersion);
      });

      it("drives the creator's join, power levels, join rules and a second member", async () => {
        const join = await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: ALICE, sender: ALICE, content: { membership: "join" } });
        assert.equal(await membership(hs, roomId, ALICE), "join");
        assert.deepEqual(join.event.prevEventIds.length, 1);

        const users: Record<string, number> = { [ALICE]: 100 };
        if (roomVersion === "12") delete users[ALICE]; // creators may not appear in v12 power levels
        await hs.localEvents.send(roomId, {
          type: "m.room.power_levels", stateKey: "", sender: ALICE,
          content: { users, users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0, events: { "m.room.topic": 50 } },
        });
        await hs.localEvents.send(roomId, { type: "m.room.join_rules", stateKey: "", sender: ALICE, content: { join_rule: "invite" } });

        // Bob may not join an invite-only room uninvited, and the refusal stores nothing.
        const beforeCounts = await tableCounts(hs);
        await assert.rejects(
          hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "join" } }),
          AuthError,
        );
        assert.deepEqual(await tableCounts(hs), beforeCounts);
        assert.equal(await membership(hs, roomId, BOB), undefined);

        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: ALICE, content: { membership: "invite" } });
        assert.equal(await membership(hs, roomId, BOB), "invite");
        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "join" } });
        assert.equal(await membership(hs, roomId, BOB), "join");
        assert.deepEqual((await hs.states.membersOfRoom(roomId)).sort(), [ALICE, BOB]);
      });

      it("lets members talk, refuses what their power does not allow, and orders the stream", async () => {
        const before = hs.eventStream.position;
        const m1 = await hs.localEvents.send(roomId, { type: "m.room.message", sender: BOB, content: { msgtype: "m.text", body: "hi" } });
        const m2 = await hs.localEvents.send(roomId, { type: "m.room.message", sender: ALICE, content: { msgtype: "m.text", body: "hello" } });
        assert.ok((m1.streamOrdering as number) > before);
        assert.ok((m2.streamOrdering as number) > (m1.streamOrdering as number));
        assert.equal(hs.eventStream.position, m2.streamOrdering);
        assert.equal(m1.stateChanged, false);
        assert.deepEqual(m2.event.prevEventIds, [m1.event.eventId]);
        assert.equal(m2.event.depth, m1.event.depth + 1);

        await assert.rejects(
          hs.localEvents.send(roomId, { type: "m.room.topic", stateKey: "", sender: BOB, content: { topic: "mine now" } }),
          /power|level/i,
        );
        await assert.rejects(
          hs.localEvents.send(roomId, { type: "m.room.message", sender: EVE, content: { msgtype: "m.text", body: "let me in" } }),
          AuthError,
        );
        const topic = await hs.localEvents.send(roomId, { type: "m.room.topic", stateKey: "", sender: ALICE, content: { topic: "plans" } });
        assert.equal(topic.stateChanged, true);
        const current = await hs.states.currentState(roomId);
        assert.equal(current.get(stateKey("m.room.topic", "")), topic.event.eventId);
      });

      it("kicks and bans, updating memberships and keeping every earlier snapshot intact", async () => {
        const beforeKick = await hs.events.forwardExtremities(roomId);
        const stored = await hs.events.getEvent(beforeKick[0]);
        const snapshotBeforeKick = await hs.states.getSnapshot(stored!.stateSnapshot!);
        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: ALICE, content: { membership: "leave", reason: "bye" } });
        assert.equal(await membership(hs, roomId, BOB), "leave");
        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: ALICE, content: { membership: "ban" } });
        assert.equal(await membership(hs, roomId, BOB), "ban");
        await assert.rejects(
          hs.localEvents.send(roomId, { type: "m.room.member", stateKey: BOB, sender: ALICE, content: { membership: "invite" } }),
          AuthError,
        );
        // The snapshot at an earlier event is unchanged by later state.
        const again = await hs.states.getSnapshot(stored!.stateSnapshot!);
        assert.deepEqual([...again].sort(), [...snapshotBeforeKick].sort());
        assert.equal(again.get(stateKey("m.room.member", BOB)), snapshotBeforeKick.get(stateKey("m.room.member", BOB)));
      });

      it("has every event's state snapshot agree with replaying the room from the start", async () => {
        const rows: { event_id: string; state_snapshot: number; type: string; state_key: string | null }[] = await hs.db
          .knex("events").where({ room_id: roomId }).orderBy("stream_ordering").select("event_id", "state_snapshot", "type", "state_key");
        const replay = new Map<string, string>();
        for (const r of rows) {
          if (r.state_key !== null) replay.set(stateKey(r.type, r.state_key), r.event_id);
          const snap = await hs.states.getSnapshot(r.state_snapshot);
          assert.deepEqual(new Map([...snap].sort()), new Map([...replay].sort()), `state after ${r.event_id}`);
        }
        const current = await hs.states.currentState(roomId);
        assert.deepEqual(new Map([...current].sort()), new Map([...replay].sort()));
      });

      it("keeps everything across a restart and carries on from the same stream position", async () => {
        const position = hs.eventStream.position;
        const current = await hs.states.currentState(roomId);
        const extremities = await hs.events.forwardExtremities(roomId);
        await closeContext(hs);
        hs = await buildContext(db.config({ server_name: "test.local" }), log);
        assert.equal(hs.eventStream.position, position);
        assert.deepEqual(await hs.states.currentState(roomId), current);
        assert.deepEqual(await hs.events.forwardExtremities(roomId), extremities);
        const next = await hs.localEvents.send(roomId, { type: "m.room.message", sender: ALICE, content: { msgtype: "m.text", body: "still here" } });
        assert.equal(next.streamOrdering, position + 1);
        assert.deepEqual(next.event.prevEventIds, extremities);
      });
    });
  }
}

for (const engine of ENGINES) {
  // Snapshots as chains of links, cached apart and by entries: with short chains (cut often) and caches of a
  // few dozen entries, every read mixes links held in memory with links read from the database.
  describe(`state snapshots on ${engine}: rebuilt from cached and stored links alike`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    it("answers every snapshot, whole and by key, as replaying the room does, whatever the caches hold", async () => {
      const db = await createTestDatabase(engine);
      const settings = { server_name: "test.local", state_cache_size: 40, state_delta_chain_max: 3 };
      let hs = await buildContext(db.config(settings), log);
      try {
        const roomId = (await hs.localEvents.createRoom(ALICE, "10")).event.roomId;
        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: ALICE, sender: ALICE, content: { membership: "join" } });
        await hs.localEvents.send(roomId, { type: "m.room.join_rules", stateKey: "", sender: ALICE, content: { join_rule: "public" } });
        for (let i = 0; i < 14; i++) {
          const user = `@m${i}:test.local`;
          await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: user, sender: user, content: { membership: "join" } });
          if (i % 4 === 3) await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: user, sender: user, content: { membership: "leave" } });
          if (i % 5 === 0) await hs.localEvents.send(roomId, { type: "m.room.topic", stateKey: "", sender: ALICE, content: { topic: `t${i}` } });
        }
        const rows: { event_id: string; state_snapshot: number; type: string; state_key: string | null }[] = await hs.db
          .knex("events").where({ room_id: roomId }).orderBy("stream_ordering").select("event_id", "state_snapshot", "type", "state_key");
        const expected = new Map<number, Map<string, string>>();
        const replay = new Map<string, string>();
        for (const r of rows) {
          if (r.state_key !== null) replay.set(stateKey(r.type, r.state_key), r.event_id);
          expected.set(Number(r.state_snapshot), new Map(replay));
        }
        const keys = [stateKey("m.room.topic", ""), stateKey("m.room.member", "@m3:test.local"), stateKey("m.room.member", "@m12:test.local"), stateKey("m.room.name", "")];
        const check = async (order: number[]) => {
          for (const id of order) {
            const want = expected.get(id)!;
            assert.deepEqual(await hs.states.stateValues(id, keys), keys.map((k) => want.get(k)), `keys of snapshot ${id}`);
            assert.deepEqual(new Map([...(await hs.states.getSnapshot(id))].sort()), new Map([...want].sort()), `snapshot ${id}`);
          }
        };
        const ids = [...expected.keys()];
        await check(ids); // caches as the writes left them
        for (const order of [ids.slice().reverse(), ids.filter((_, i) => i % 2).concat(ids.filter((_, i) => i % 2 === 0))]) {
          await closeContext(hs);
          hs = await buildContext(db.config(settings), log); // cold, then warmed in another order
          await check(order);
          await check(ids);
        }
      } finally {
        await closeContext(hs);
        await db.dispose();
      }
    });
  });
}

for (const engine of ENGINES) {
  for (const roomVersion of ["10", "12"]) {
    describe(`forks on ${engine}, room version ${roomVersion}: state resolution in the persist pipeline`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
      let db: TestDatabase;
      let hs: ServerContext;
      after(async () => {
        if (hs) await closeContext(hs);
        await db?.dispose();
      });

      it("resolves two concurrent topic changes, then merges the branches", async () => {
        db = await createTestDatabase(engine);
        hs = await buildContext(db.config({ server_name: "test.local" }), log);
        const seen: string[] = [];
        hs.persister.onPersisted((p) => seen.push(p.event.eventId));

        const roomId = (await hs.localEvents.createRoom(ALICE, roomVersion)).event.roomId;
        const send = (draft: Parameters<ServerContext["localEvents"]["send"]>[1]) => hs.localEvents.send(roomId, draft);
        await send({ type: "m.room.member", stateKey: ALICE, sender: ALICE, content: { membership: "join" } });
        const users: Record<string, number> = roomVersion === "12" ? { [BOB]: 50 } : { [ALICE]: 100, [BOB]: 50 };
        await send({ type: "m.room.power_levels", stateKey: "", sender: ALICE, content: { users, state_default: 50 } });
        await send({ type: "m.room.join_rules", stateKey: "", sender: ALICE, content: { join_rule: "public" } });
        const fork = (await send({ type: "m.room.member", stateKey: BOB, sender: BOB, content: { membership: "join" } })).event;

        const rules = await hs.localEvents.rulesOf(roomId);
        const t = Date.now();
        const a = await hs.localEvents.prepare(rules, roomId, { type: "m.room.topic", stateKey: "", sender: ALICE, content: { topic: "A" }, originServerTs: t }, [fork.eventId]);
        const b = await hs.localEvents.prepare(rules, roomId, { type: "m.room.topic", stateKey: "", sender: BOB, content: { topic: "B" }, originServerTs: t + 1 }, [fork.eventId]);
        await hs.persister.persist(a.event, rules, { stateBefore: a.stateBefore });
        await hs.persister.persist(b.event, rules, { stateBefore: b.stateBefore });

        assert.deepEqual((await hs.events.forwardExtremities(roomId)).sort(), [a.event.eventId, b.event.eventId].sort());
        // Equal mainline position (same power levels), so the later timestamp is applied last and wins.
        const current = await hs.states.currentState(roomId);
        assert.equal(current.get(stateKey("m.room.topic", "")), b.event.eventId);

        const merge = await send({ type: "m.room.message", sender: ALICE, content: { msgtype: "m.text", body: "merged" } });
        assert.deepEqual([...merge.event.prevEventIds].sort(), [a.event.eventId, b.event.eventId].sort());
        assert.deepEqual(await hs.events.forwardExtremities(roomId), [merge.event.eventId]);
        const afterMerge = await hs.events.getEvent(merge.event.eventId);
        const state = await hs.states.getSnapshot(afterMerge!.stateSnapshot!);
        assert.equal(state.get(stateKey("m.room.topic", "")), b.event.eventId);
        assert.equal(state.get(stateKey("m.room.member", BOB)), fork.eventId);

        // Listeners heard every committed event, once, in commit order.
        assert.equal(seen.length, 8);
        assert.equal(seen[seen.length - 1], merge.event.eventId);
      });
    });
  }
}
