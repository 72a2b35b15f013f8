/**
 * The two-step store of push outcomes on every database: readers see an
 * event's notifications exactly once whether it is still pending or has
 * been expanded, even while an expansion runs between their reads.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { migrate, openDatabase } from "../../src/storage/database.js";
import { MAIN_THREAD, PushActionsStore } from "../../src/storage/push-actions-store.js";
import { ENGINES, createTestDatabase, postgresUnavailable } from "../support/databases.js";

const ROOM = "!r:example.org";
const USERS = Array.from({ length: 300 }, (_, i) => `@u${i}:example.org`);

for (const engine of ENGINES) {
  describe(`push actions store on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    it("counts pending and expanded outcomes once each, during expansions too", async () => {
      const tdb = await createTestDatabase(engine);
      const db = openDatabase(tdb.config({ server_name: "example.org" }));
      try {
        await migrate(db);
        const store = new PushActionsStore(db, 600_000);
        const events = 40;
        for (let e = 1; e <= events; e++) {
          await db.knex.transaction((trx) => store.insertPending(trx, {
            eventId: `$e${e}`, roomId: ROOM, streamOrdering: e, threadId: e % 4 === 0 ? "$root" : MAIN_THREAD, ts: e,
            recipients: USERS.map((userId, i) => ({ userId, actions: ["notify"], highlight: (i + e) % 5 === 0 })),
          }));
        }
        const expected = (userIndex: number) => ({
          total: events,
          highlights: Array.from({ length: events }, (_, k) => k + 1).filter((e) => (userIndex + e) % 5 === 0).length,
        });
        const check = async (userIndex: number) => {
          const got = (await store.unread(USERS[userIndex], [ROOM], events)).get(ROOM);
          const want = expected(userIndex);
          assert.equal(got?.total.notification_count, want.total);
          assert.equal(got?.total.highlight_count, want.highlights);
          assert.equal(got?.threads.get("$root")?.notification_count, events / 4);
          const listed = await store.list(USERS[userIndex], [ROOM], { limit: 100, onlyHighlight: false });
          assert.deepEqual(listed.map((r) => r.streamOrdering), Array.from({ length: events }, (_, k) => events - k));
        };
        await check(7);
        // Readers racing an expansion (which moves rows in batches of at most 5,000: several transactions here).
        let expanded = false;
        const readers = Array.from({ length: 6 }, async (_, i) => {
          // Bounded: a reader checks until the expansion is over (it takes a few transactions), at most 200 times.
          for (let n = 0; n < 200 && !expanded; n++) await check(i);
        });
        await Promise.all([store.expand().then(() => (expanded = true)), ...readers]);
        assert.equal(Number((await db.knex("event_push_pending").count({ n: "*" }).first())?.n), 0);
        assert.equal(Number((await db.knex("event_push_actions").count({ n: "*" }).first())?.n), events * USERS.length);
        await check(11);
        // Counts held from the reads above take in what a later expansion adds.
        await db.knex.transaction((trx) => store.insertPending(trx, {
          eventId: "$e41", roomId: ROOM, streamOrdering: 41, threadId: MAIN_THREAD, ts: 41,
          recipients: USERS.map((userId) => ({ userId, actions: ["notify"], highlight: true })),
        }));
        assert.equal((await store.unread(USERS[2], [ROOM], 41)).get(ROOM)?.total.notification_count, events + 1);
        await store.expand();
        const held = (await store.unread(USERS[2], [ROOM], 41)).get(ROOM);
        assert.equal(held?.total.notification_count, events + 1);
        assert.equal(held?.total.highlight_count, expected(2).highlights + 1);
        await db.knex("event_push_actions").where({ event_id: "$e41" }).del();
        // What a pusher has yet to deliver: after a position, oldest first.
        assert.deepEqual((await store.pending(USERS[3], [ROOM], 35, events, 10)).map((r) => r.streamOrdering), [36, 37, 38, 39, 40]);
        // Pruning: rows from before the cutoff go (ts is the event number here), the rest stay and still count.
        assert.equal(await store.prune(31), 30 * USERS.length);
        assert.equal((await store.unread(USERS[0], [ROOM], events)).get(ROOM)?.total.notification_count, 10);
        assert.deepEqual((await store.list(USERS[0], [ROOM], { limit: 100, onlyHighlight: false })).map((r) => r.streamOrdering).at(-1), 31);
        // Thousands of rows with one ts (pruning must still get through them).
        await db.knex.transaction((trx) => store.insertPending(trx, {
          eventId: "$same", roomId: ROOM, streamOrdering: 1000, threadId: MAIN_THREAD, ts: 35,
          recipients: Array.from({ length: 6000 }, (_, i) => ({ userId: `@many${i}:example.org`, actions: ["notify"], highlight: false })),
        }));
        await store.expand();
        assert.equal(await store.prune(36), 6000 + 5 * USERS.length);
        await store.close();
      } finally {
        await db.close();
        await tdb.dispose();
      }
    });
  });
}
