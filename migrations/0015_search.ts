/**
 * Search, directories and reports:
 *
 * - `event_search`: one row per searchable accepted event (a message body,
 *   a room name or topic), keyed by the event's nid, with what a search
 *   filters and orders on. Each engine indexes `value` with its own
 *   full-text search, side by side: SQLite an FTS5 table over it (external
 *   content, kept in step by triggers), PostgreSQL a generated tsvector
 *   column with a GIN index. Neither stems (see src/search/terms.ts).
 * - an index on current_state(type, state_key), so the user directory can
 *   find the public and world-readable rooms without scanning all state.
 * - `content_reports`: reports of events, rooms and users, for admins.
 *
 * Events already stored are indexed here, so an existing server searches
 * its history from the first start after the upgrade.
 */
import type { Knex } from "knex";
import { storedTimelineEvents } from "./stored-events.js";
import type { JsonObject } from "../src/room/types.js";
import { searchableText } from "../src/search/terms.js";

function isPostgres(knex: Knex): boolean {
  const client = (knex.client as { config?: { client?: unknown } }).config?.client;
  return client === "pg" || client === "postgres" || client === "postgresql";
}

const BACKFILL_BATCH = 500;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("event_search", (t) => {
    t.integer("nid").primary();
    t.string("event_id", 255).notNullable().unique();
    t.string("room_id", 255).notNullable();
    t.string("sender", 255).notNullable();
    t.string("type", 255).notNullable();
    t.string("key", 32).notNullable();
    t.bigInteger("stream_ordering").notNullable();
    t.bigInteger("origin_server_ts").notNullable();
    t.text("value").notNullable();
    t.index(["room_id", "stream_ordering"]);
  });
  if (isPostgres(knex)) {
    await knex.raw(`ALTER TABLE event_search ADD COLUMN vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', value)) STORED`);
    await knex.raw(`CREATE INDEX event_search_vector ON event_search USING GIN (vector)`);
  } else {
    await knex.raw(
      `CREATE VIRTUAL TABLE event_search_fts USING fts5(value, content='event_search', content_rowid='nid', tokenize='unicode61 remove_diacritics 2')`,
    );
    await knex.raw(`CREATE TRIGGER event_search_ai AFTER INSERT ON event_search BEGIN
      INSERT INTO event_search_fts(rowid, value) VALUES (new.nid, new.value); END`);
    await knex.raw(`CREATE TRIGGER event_search_ad AFTER DELETE ON event_search BEGIN
      INSERT INTO event_search_fts(event_search_fts, rowid, value) VALUES ('delete', old.nid, old.value); END`);
  }

  await knex.schema.alterTable("current_state", (t) => {
    t.index(["type", "state_key"], "current_state_type_key");
  });

  await knex.schema.createTable("content_reports", (t) => {
    t.increments("id").primary();
    t.bigInteger("received_ts").notNullable();
    // "event", "room" or "user": what was reported.
    t.string("kind", 16).notNullable();
    t.string("room_id", 255).nullable();
    t.string("event_id", 255).nullable();
    t.string("target_user_id", 255).nullable();
    t.string("reporter", 255).notNullable();
    t.text("reason").nullable();
    t.integer("score").nullable();
    t.index(["received_ts"]);
  });

  await backfill(knex);
}

/** Index what is already stored (exported for the test that re-runs it). */
export async function backfill(knex: Knex): Promise<void> {
  const searchable = (q: Knex.QueryBuilder) =>
    q.whereIn("type", ["m.room.message", "m.room.name", "m.room.topic"]).whereNotExists(knex("redactions").whereRaw("redactions.redacts = events.event_id"));
  for await (const rows of storedTimelineEvents(knex, searchable, BACKFILL_BATCH)) {
    const values = [];
    for (const r of rows) {
      const pdu = JSON.parse(r.json) as { state_key?: string; content?: JsonObject };
      const text = searchableText({ type: r.type, stateKey: pdu.state_key, content: pdu.content ?? {} });
      if (!text) continue;
      values.push({
        nid: r.nid, event_id: r.event_id, room_id: r.room_id, sender: r.sender, type: r.type, key: text.key,
        stream_ordering: r.stream_ordering, origin_server_ts: r.origin_server_ts, value: text.value,
      });
    }
    if (values.length) await knex("event_search").insert(values);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("content_reports");
  await knex.schema.alterTable("current_state", (t) => {
    t.dropIndex(["type", "state_key"], "current_state_type_key");
  });
  if (!isPostgres(knex)) await knex.raw(`DROP TABLE IF EXISTS event_search_fts`);
  await knex.schema.dropTableIfExists("event_search");
}
