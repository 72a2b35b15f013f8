/**
 * Events already stored, for migrations that build a new index over
 * history: every accepted event with a place in the timeline, in nid
 * order, a batch at a time (memory stays flat however big the server).
 */
import type { Knex } from "knex";

export interface StoredEventRow {
  readonly nid: number;
  readonly event_id: string;
  readonly room_id: string;
  readonly sender: string;
  readonly type: string;
  readonly stream_ordering: number;
  readonly origin_server_ts: number;
  readonly json: string;
}

export async function* storedTimelineEvents(
  knex: Knex,
  narrow: (q: Knex.QueryBuilder) => Knex.QueryBuilder = (q) => q,
  batchSize = 500,
): AsyncGenerator<StoredEventRow[]> {
  let after = 0;
  for (;;) {
    const rows: Array<Record<string, unknown>> = await narrow(knex("events"))
      .whereNotNull("stream_ordering")
      .whereNull("rejected_reason")
      .where("nid", ">", after)
      .orderBy("nid")
      .limit(batchSize)
      .select("nid", "event_id", "room_id", "sender", "type", "stream_ordering", "origin_server_ts", "json");
    if (rows.length === 0) return;
    const batch = rows.map((r) => ({
      nid: Number(r.nid), event_id: String(r.event_id), room_id: String(r.room_id), sender: String(r.sender), type: String(r.type),
      stream_ordering: Number(r.stream_ordering), origin_server_ts: Number(r.origin_server_ts), json: String(r.json),
    }));
    after = batch[batch.length - 1].nid;
    yield batch;
  }
}
