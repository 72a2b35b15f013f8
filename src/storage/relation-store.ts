/**
 * The index of relations between events (migrations/0014_relations.ts):
 * written inside each event's own transaction, so it never holds an event
 * that rolled back nor misses one that committed; read by /relations,
 * /threads, bundled aggregations and threaded receipts.
 */
import type { Knex } from "knex";
import { placeForIndex, type EventStore } from "./event-store.js";
import { REL_THREAD, relationOf } from "../relations/relates-to.js";
import type { RoomEvent } from "../room/types.js";
import type { Database } from "./database.js";
import type { TxContext } from "./tx.js";

export interface RelationRow {
  readonly eventId: string;
  readonly roomId: string;
  readonly parentId: string;
  readonly relType: string;
  readonly type: string;
  readonly sender: string;
  readonly streamOrdering: number;
  readonly originServerTs: number;
  readonly key: string | null;
}

interface DbRelationRow {
  event_id: string;
  room_id: string;
  relates_to_id: string;
  rel_type: string;
  type: string;
  sender: string;
  stream_ordering: number | string;
  origin_server_ts: number | string;
  aggregation_key: string | null;
}

const COLUMNS = ["event_id", "room_id", "relates_to_id", "rel_type", "type", "sender", "stream_ordering", "origin_server_ts", "aggregation_key"];

function fromDb(r: DbRelationRow): RelationRow {
  return {
    eventId: r.event_id,
    roomId: r.room_id,
    parentId: r.relates_to_id,
    relType: r.rel_type,
    type: r.type,
    sender: r.sender,
    streamOrdering: Number(r.stream_ordering),
    originServerTs: Number(r.origin_server_ts),
    key: r.aggregation_key,
  };
}

/** One parent's children of one rel_type, summed up for a bundled aggregation. */
export interface ChildSummary {
  readonly roomId: string;
  readonly parentId: string;
  readonly relType: string;
  readonly count: number;
  readonly latestOrdering: number;
  /** Whether the asking user sent one of them. */
  readonly mine: boolean;
}

export interface ChildrenQuery {
  readonly roomId: string;
  readonly parentId: string;
  readonly relType?: string;
  readonly eventType?: string;
  readonly dir: "b" | "f";
  /** b: at or below this position; f: above it. */
  readonly from: number;
  /** b: above this position; f: at or below it. */
  readonly to?: number;
  readonly limit: number;
  /** 1: direct children only; more: children of children too, to this depth. */
  readonly depth: number;
}

export interface ThreadRow {
  readonly threadId: string;
  readonly latestOrdering: number;
}

/** SQLite caps bound parameters per statement; stay well under it. */
const BATCH = 400;

export class RelationStore {
  /** `events`, for the indexing store: what it holds of whether events have relations is kept exact. */
  constructor(private readonly db: Database, private readonly events?: EventStore) {}

  /**
   * The persist pipeline's hook (EventPersister.withinEveryCommit): index an
   * accepted event that relates to another, and drop the row of the target
   * of an accepted redaction (a redacted child breaks its relationship). A
   * redaction may arrive before its target (over federation); the target
   * is then never indexed.
   */
  readonly indexInCommit = async (trx: Knex.Transaction, event: RoomEvent, accepted: boolean, ctx: TxContext): Promise<void> => {
    if (!accepted) return;
    if (event.type === "m.room.redaction" && event.redacts !== undefined) {
      await this.unindex(trx, event.roomId, event.redacts);
      return;
    }
    const rel = relationOf(event.content);
    if (!rel) return;
    // Outliers, rejected events and events redacted before they arrived relate to nothing.
    const place = await placeForIndex(trx, event);
    if (!place) return;
    if (!this.events) throw new Error("the indexing RelationStore needs the event store");
    this.events.relationArriving(ctx, rel.parentId);
    const streamOrdering = place.streamOrdering;
    await trx("event_relations")
      .insert({
        event_id: event.eventId,
        room_id: event.roomId,
        relates_to_id: rel.parentId,
        rel_type: rel.relType,
        type: event.type,
        sender: event.sender,
        stream_ordering: streamOrdering,
        origin_server_ts: event.originServerTs,
        aggregation_key: rel.key,
      })
      .onConflict("event_id")
      .ignore();
    if (rel.relType === REL_THREAD) {
      const thread = { room_id: event.roomId, thread_id: rel.parentId };
      const current = await trx("event_threads").where(thread).first("latest_stream_ordering");
      if (!current) {
        await trx("event_threads").insert({ ...thread, latest_event_id: event.eventId, latest_stream_ordering: streamOrdering });
      } else if (Number(current.latest_stream_ordering) < streamOrdering) {
        await trx("event_threads").where(thread).update({ latest_event_id: event.eventId, latest_stream_ordering: streamOrdering });
      }
    }
  };

  /** A redacted child: its row goes, and a thread it was the latest reply of falls back to the one before. */
  private async unindex(trx: Knex.Transaction, roomId: string, eventId: string): Promise<void> {
    const row: DbRelationRow | undefined = await trx("event_relations").where({ event_id: eventId, room_id: roomId }).first(COLUMNS);
    if (!row) return;
    await trx("event_relations").where({ event_id: eventId }).del();
    if (row.rel_type !== REL_THREAD) return;
    const thread = { room_id: roomId, thread_id: row.relates_to_id };
    const next: DbRelationRow | undefined = await trx("event_relations")
      .where({ room_id: roomId, relates_to_id: row.relates_to_id, rel_type: REL_THREAD })
      .orderBy("stream_ordering", "desc")
      .first(COLUMNS);
    if (!next) await trx("event_threads").where(thread).del();
    else await trx("event_threads").where(thread).update({ latest_event_id: next.event_id, latest_stream_ordering: Number(next.stream_ordering) });
  }

  /** The relation an event has, if it is indexed. */
  async relationOf(eventId: string, trx?: Knex.Transaction): Promise<RelationRow | undefined> {
    const row: DbRelationRow | undefined = await (trx ?? this.db.knex)("event_relations").where({ event_id: eventId }).first(COLUMNS);
    return row && fromDb(row);
  }

  /** Whether any event relates to this one with the given rel_type. */
  async hasChildren(roomId: string, parentId: string, relType: string, trx?: Knex.Transaction): Promise<boolean> {
    const row = await (trx ?? this.db.knex)("event_relations").where({ room_id: roomId, relates_to_id: parentId, rel_type: relType }).first("event_id");
    return row !== undefined;
  }

  /** Whether any event in the room relates to this one (a parent not held here may still be known). */
  async isParent(trx: Knex.Transaction, roomId: string, parentId: string): Promise<boolean> {
    return (await trx("event_relations").where({ room_id: roomId, relates_to_id: parentId }).first("event_id")) !== undefined;
  }

  /** Whether the sender has already annotated the parent with this type and key (and not redacted it). */
  async hasAnnotation(
    trx: Knex.Transaction, roomId: string, parentId: string, type: string, sender: string, key: string,
  ): Promise<boolean> {
    const row = await trx("event_relations")
      .where({ room_id: roomId, relates_to_id: parentId, rel_type: "m.annotation", type, sender, aggregation_key: key })
      .first("event_id");
    return row !== undefined;
  }

  /**
   * A page of the parent's children in stream order (newest first for
   * `b`), optionally of one rel_type and event type. With depth > 1, events
   * relating to those children (of any rel_type) are walked too, down to
   * `depth` levels; the filters apply to what is returned, not the walk.
   */
  async children(q: ChildrenQuery): Promise<RelationRow[]> {
    const knex = this.db.knex;
    const query = knex("event_relations as r");
    if (q.depth > 1) {
      // Each event relates to one parent, so the walk is a tree: no row is reached twice.
      query.withRecursive("related", ["event_id", "depth"], (qb) => {
        qb.from("event_relations").where({ room_id: q.roomId, relates_to_id: q.parentId }).select("event_id", knex.raw("1"))
          .unionAll((u) => {
            u.from("event_relations as c")
              .join("related as p", "c.relates_to_id", "p.event_id")
              .where("c.room_id", q.roomId)
              .where("p.depth", "<", q.depth)
              .select("c.event_id", knex.raw("p.depth + 1"));
          });
      }).join("related", "related.event_id", "r.event_id");
    } else {
      query.where({ "r.room_id": q.roomId, "r.relates_to_id": q.parentId });
    }
    if (q.relType !== undefined) query.where("r.rel_type", q.relType);
    if (q.eventType !== undefined) query.where("r.type", q.eventType);
    if (q.dir === "b") {
      query.where("r.stream_ordering", "<=", q.from).orderBy("r.stream_ordering", "desc");
      if (q.to !== undefined) query.where("r.stream_ordering", ">", q.to);
    } else {
      query.where("r.stream_ordering", ">", q.from).orderBy("r.stream_ordering", "asc");
      if (q.to !== undefined) query.where("r.stream_ordering", "<=", q.to);
    }
    const rows: DbRelationRow[] = await query.limit(q.limit).select(COLUMNS.map((c) => `r.${c}`));
    return rows.map(fromDb);
  }

  /**
   * For each parent, its children of each of `relTypes` summed up: how
   * many, the newest one's position, and whether `userId` sent one. One
   * query for the whole page of parents; senders in `ignored` are left out.
   */
  async summaries(parentIds: readonly string[], relTypes: readonly string[], userId: string, ignored: ReadonlySet<string>): Promise<ChildSummary[]> {
    const knex = this.db.knex;
    const out: ChildSummary[] = [];
    const unique = [...new Set(parentIds)];
    for (let i = 0; i < unique.length; i += BATCH) {
      const q = knex("event_relations")
        .whereIn("relates_to_id", unique.slice(i, i + BATCH))
        .whereIn("rel_type", [...relTypes])
        .groupBy("room_id", "relates_to_id", "rel_type")
        .select(
          "room_id", "relates_to_id", "rel_type",
          knex.raw("count(*) as n"),
          knex.raw("max(stream_ordering) as latest"),
          knex.raw("max(case when sender = ? then 1 else 0 end) as mine", [userId]),
        );
      if (ignored.size) q.whereNotIn("sender", [...ignored]);
      const rows: { room_id: string; relates_to_id: string; rel_type: string; n: number | string; latest: number | string; mine: number | string }[] = await q;
      for (const r of rows) {
        out.push({
          roomId: r.room_id, parentId: r.relates_to_id, relType: r.rel_type,
          count: Number(r.n), latestOrdering: Number(r.latest), mine: Number(r.mine) === 1,
        });
      }
    }
    return out;
  }

  /** Every child of `relTypes` of the given parents, and the rows at the given positions. */
  async rowsFor(parentIds: readonly string[], relTypes: readonly string[], orderings: readonly number[], ignored: ReadonlySet<string>): Promise<RelationRow[]> {
    if (parentIds.length === 0 && orderings.length === 0) return [];
    const out: RelationRow[] = [];
    const n = Math.max(parentIds.length, orderings.length);
    for (let i = 0; i < n; i += BATCH) {
      const parents = parentIds.slice(i, i + BATCH);
      const at = orderings.slice(i, i + BATCH);
      const q = this.db.knex("event_relations").where((w) => {
        if (parents.length) w.orWhere((p) => p.whereIn("relates_to_id", parents).whereIn("rel_type", [...relTypes]));
        if (at.length) w.orWhereIn("stream_ordering", at);
      });
      if (ignored.size) q.whereNotIn("sender", [...ignored]);
      const rows: DbRelationRow[] = await q.select(COLUMNS);
      out.push(...rows.map(fromDb));
    }
    return out;
  }

  /**
   * A page of the room's threads, newest activity first, below `before`
   * (a latest-reply position). With `participant`, only threads that user
   * started or replied in.
   */
  async threads(roomId: string, before: number, limit: number, participant?: string): Promise<ThreadRow[]> {
    const knex = this.db.knex;
    const q = knex("event_threads as t")
      .where("t.room_id", roomId)
      .where("t.latest_stream_ordering", "<", before)
      .orderBy("t.latest_stream_ordering", "desc")
      .limit(limit)
      .select("t.thread_id", "t.latest_stream_ordering");
    if (participant !== undefined) {
      q.where((w) => {
        w.whereExists(
          knex("event_relations as r")
            .whereRaw("r.room_id = t.room_id")
            .whereRaw("r.relates_to_id = t.thread_id")
            .where({ "r.rel_type": REL_THREAD, "r.sender": participant })
            .select(knex.raw("1")),
        ).orWhereExists(
          knex("events as e").whereRaw("e.event_id = t.thread_id").where("e.sender", participant).select(knex.raw("1")),
        );
      });
    }
    const rows: { thread_id: string; latest_stream_ordering: number | string }[] = await q;
    return rows.map((r) => ({ threadId: r.thread_id, latestOrdering: Number(r.latest_stream_ordering) }));
  }
}
