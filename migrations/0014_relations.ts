/**
 * Relations between events (content["m.relates_to"]):
 *
 * - `event_relations`: one row per accepted event in the timeline that
 *   relates to another (edits, thread replies, references, annotations and
 *   any other rel_type), with what /relations filters and orders on and
 *   what bundled aggregations read. A redacted child loses its row (the
 *   relationship is broken, as the spec says). The parent need not be held.
 * - `event_threads`: one row per thread root with its latest reply, so
 *   /threads lists threads by latest activity without grouping every reply
 *   of the room on each request.
 *
 * Both are written in each event's own transaction (src/storage/relation-store.ts).
 * Events already stored are indexed here.
 */
import type { Knex } from "knex";
import type { JsonObject } from "../src/room/types.js";
import { relationOf, REL_THREAD } from "../src/relations/relates-to.js";
import { storedTimelineEvents } from "./stored-events.js";

const BACKFILL_BATCH = 500;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("event_relations", (t) => {
    t.string("event_id", 255).primary();
    t.string("room_id", 255).notNullable();
    t.string("relates_to_id", 255).notNullable();
    t.string("rel_type", 255).notNullable();
    t.string("type", 255).notNullable();
    t.string("sender", 255).notNullable();
    t.bigInteger("stream_ordering").notNullable();
    t.bigInteger("origin_server_ts").notNullable();
    // m.annotation's key; any string, so text.
    t.text("aggregation_key").nullable();
    t.index(["relates_to_id", "rel_type", "stream_ordering"], "event_relations_parent");
    // A thread's latest reply is found by its position.
    t.index(["stream_ordering"], "event_relations_position");
  });
  await knex.schema.createTable("event_threads", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("thread_id", 255).notNullable();
    t.string("latest_event_id", 255).notNullable();
    t.bigInteger("latest_stream_ordering").notNullable();
    t.primary(["room_id", "thread_id"]);
    t.index(["room_id", "latest_stream_ordering"], "event_threads_activity");
  });
  await backfill(knex);
}

/** Index what is already stored (exported for the test that re-runs it). */
export async function backfill(knex: Knex): Promise<void> {
  for await (const rows of storedTimelineEvents(knex, (q) => q, BACKFILL_BATCH)) {
    const candidates = rows.filter((r) => r.json.includes("m.relates_to"));
    if (candidates.length === 0) continue;
    const redacted = new Set(
      (await knex("redactions").whereIn("redacts", candidates.map((r) => r.event_id)).select("redacts")).map((r: { redacts: string }) => r.redacts),
    );
    const values = [];
    for (const r of candidates) {
      if (redacted.has(r.event_id)) continue;
      const pdu = JSON.parse(r.json) as { content?: JsonObject; state_key?: string };
      const rel = relationOf(pdu.content);
      if (!rel) continue;
      values.push({
        event_id: r.event_id, room_id: r.room_id, relates_to_id: rel.parentId, rel_type: rel.relType, type: r.type, sender: r.sender,
        stream_ordering: r.stream_ordering, origin_server_ts: r.origin_server_ts, aggregation_key: rel.key,
      });
    }
    if (values.length) await knex("event_relations").insert(values).onConflict("event_id").ignore();
  }
  // Each thread's latest reply: the reply with the highest stream position per root.
  const latest: { room_id: string; relates_to_id: string; latest: number | string }[] = await knex("event_relations")
    .where({ rel_type: REL_THREAD })
    .groupBy("room_id", "relates_to_id")
    .select("room_id", "relates_to_id", knex.raw("max(stream_ordering) as latest"));
  for (let i = 0; i < latest.length; i += BACKFILL_BATCH) {
    const batch = latest.slice(i, i + BACKFILL_BATCH);
    const ids: { event_id: string; stream_ordering: number | string }[] = await knex("event_relations")
      .whereIn("stream_ordering", batch.map((b) => Number(b.latest)))
      .select("event_id", "stream_ordering");
    const byOrdering = new Map(ids.map((r) => [Number(r.stream_ordering), r.event_id]));
    const values = batch.map((b) => ({
      room_id: b.room_id, thread_id: b.relates_to_id, latest_event_id: byOrdering.get(Number(b.latest))!, latest_stream_ordering: Number(b.latest),
    }));
    await knex("event_threads").insert(values).onConflict(["room_id", "thread_id"]).ignore();
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("event_threads");
  await knex.schema.dropTableIfExists("event_relations");
}
