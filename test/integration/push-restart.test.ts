/**
 * Counts survive a stop before their expansion: an event's outcome commits
 * with it as one pending row; a server stopped before expanding it (as a
 * crash would) shows the same counts after restart and expands it then.
 * On every database, over real HTTP.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { ENGINES, createTestDatabase, postgresUnavailable } from "../support/databases.js";
import { testHttp } from "../support/http.js";

const V3 = "/_matrix/client/v3";

for (const engine of ENGINES) {
  describe(`push counts across a restart on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    it("keeps pending outcomes and expands them at the next start", async () => {
      const db = await createTestDatabase(engine);
      // Nothing is expanded after events while the first server runs; a start expands what is pending at once.
      const config = db.config({ server_name: "restart.test", registration: { enabled: true }, push: { expand_delay_ms: 600_000 } });
      let server = await startHomeserver(config, createLogger("warn"));
      try {
        const http = testHttp(() => server.url);
        const alice = await http.register("alice");
        const bob = await http.register("bob");
        const room = (await http.call("POST", `${V3}/createRoom`, { preset: "public_chat" }, alice.access_token)).body.room_id;
        assert.equal((await http.call("POST", `${V3}/join/${encodeURIComponent(room)}`, {}, bob.access_token)).status, 200);
        for (let i = 0; i < 3; i++) {
          const sent = await http.call("PUT", `${V3}/rooms/${encodeURIComponent(room)}/send/m.room.message/t${i}`, { msgtype: "m.text", body: `m${i}`, ...(i === 0 ? { "m.mentions": { user_ids: [bob.user_id] } } : {}) }, alice.access_token);
          assert.equal(sent.status, 200);
        }
        // Stopped before the expansion timer fires: the outcomes are only in event_push_pending.
        const pending = Number((await server.context.db.knex("event_push_pending").count({ n: "*" }).first())?.n);
        assert.equal(pending, 3);
        assert.equal(Number((await server.context.db.knex("event_push_actions").count({ n: "*" }).first())?.n), 0);
        // Counts are exact before any expansion: pending rows are merged in.
        const before = await http.call("GET", `${V3}/sync`, undefined, bob.access_token);
        assert.deepEqual(before.body.rooms.join[room].unread_notifications, { notification_count: 3, highlight_count: 1 });
        await server.stop();

        server = await startHomeserver(config, createLogger("warn"));
        const sync = await http.call("GET", `${V3}/sync`, undefined, bob.access_token);
        assert.deepEqual(sync.body.rooms.join[room].unread_notifications, { notification_count: 3, highlight_count: 1 });
        await server.context.push.actions.expand();
        const knex = server.context.db.knex;
        assert.equal(Number((await knex("event_push_pending").count({ n: "*" }).first())?.n), 0);
        assert.equal(Number((await knex("event_push_actions").where({ user_id: bob.user_id, room_id: room }).count({ n: "*" }).first())?.n), 3);
        const again = await http.call("GET", `${V3}/sync`, undefined, bob.access_token);
        assert.deepEqual(again.body.rooms.join[room].unread_notifications, { notification_count: 3, highlight_count: 1 });
      } finally {
        await server.stop();
        await db.dispose();
      }
    });
  });
}
