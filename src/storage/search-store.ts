/**
 * The full-text index of room events (migrations/0015_search.ts): written
 * inside each event's own transaction, so the index never holds an event
 * that rolled back nor misses one that committed, and queried with each
 * engine's own full-text search, the two dialects side by side.
 */
import type { Knex } from "knex";
import { placeForIndex } from "./event-store.js";
import type { RoomEvent } from "../room/types.js";
import { fts5Query, searchableText, tsQuery, type SearchKey } from "../search/terms.js";
import type { Database } from "./database.js";

export interface SearchHit {
  readonly nid: number;
  readonly eventId: string;
  readonly roomId: string;
  readonly sender: string;
  readonly streamOrdering: number;
  /** Higher is closer. */
  readonly rank: number;
  readonly value: string;
}

export interface SearchQuery {
  readonly words: readonly string[];
  readonly roomIds: readonly string[];
  readonly keys: readonly SearchKey[];
  readonly senders?: readonly string[];
  readonly notSenders?: readonly string[];
  readonly order: "rank" | "recent";
  /** rank: how many hits to skip; recent: only hits below this stream position. */
  readonly from: number;
  readonly limit: number;
}

export class SearchStore {
  constructor(private readonly db: Database) {}

  /**
   * The persist pipeline's hook (EventPersister.withinEveryCommit): index
   * an accepted searchable event, and drop the target of an accepted
   * redaction. A redaction may arrive before its target (over
   * federation); the target is then never indexed.
   */
  readonly indexInCommit = async (trx: Knex.Transaction, event: RoomEvent, accepted: boolean): Promise<void> => {
    if (!accepted) return;
    if (event.type === "m.room.redaction" && event.redacts !== undefined) {
      await trx("event_search").where({ event_id: event.redacts, room_id: event.roomId }).del();
      return;
    }
    const text = searchableText(event);
    if (!text) return;
    // Outliers, rejected events and events redacted before they arrived are not searched.
    const place = await placeForIndex(trx, event);
    if (!place) return;
    await trx("event_search")
      .insert({
        nid: place.nid,
        event_id: event.eventId,
        room_id: event.roomId,
        sender: event.sender,
        type: event.type,
        key: text.key,
        stream_ordering: place.streamOrdering,
        origin_server_ts: event.originServerTs,
        value: text.value,
      })
      .onConflict("nid")
      .ignore();
  };

  async search(q: SearchQuery): Promise<SearchHit[]> {
    if (q.words.length === 0 || q.roomIds.length === 0 || q.keys.length === 0 || q.limit <= 0) return [];
    const knex = this.db.knex;
    let query: Knex.QueryBuilder;
    if (this.db.dialect === "postgres") {
      const match = tsQuery(q.words);
      query = knex("event_search as s")
        .whereRaw("s.vector @@ to_tsquery('simple', ?)", [match])
        .select(knex.raw("ts_rank(s.vector, to_tsquery('simple', ?)) as rank", [match]));
    } else {
      // bm25 is lower for closer matches; negated so that higher is closer on both engines.
      query = knex("event_search_fts")
        .join("event_search as s", "s.nid", "event_search_fts.rowid")
        .whereRaw("event_search_fts MATCH ?", [fts5Query(q.words)])
        .select(knex.raw("-bm25(event_search_fts) as rank"));
    }
    query
      .select("s.nid", "s.event_id", "s.room_id", "s.sender", "s.stream_ordering", "s.value")
      .whereIn("s.room_id", [...q.roomIds])
      .whereIn("s.key", [...q.keys]);
    if (q.senders) query.whereIn("s.sender", [...q.senders]);
    if (q.notSenders?.length) query.whereNotIn("s.sender", [...q.notSenders]);
    if (q.order === "recent") {
      query.where("s.stream_ordering", "<", q.from).orderBy("s.stream_ordering", "desc");
    } else {
      query.orderBy("rank", "desc").orderBy("s.nid", "desc").offset(q.from);
    }
    const rows: { nid: number; event_id: string; room_id: string; sender: string; stream_ordering: number | string; rank: number | string; value: string }[] =
      await query.limit(q.limit);
    return rows.map((r) => ({
      nid: Number(r.nid),
      eventId: r.event_id,
      roomId: r.room_id,
      sender: r.sender,
      streamOrdering: Number(r.stream_ordering),
      rank: Number(r.rank),
      value: r.value,
    }));
  }
}
