/**
 * Events and their DAG edges: insert, fetch by id (through a bounded cache
 * of parsed events), forward extremities, and auth chains.
 */
import type { Knex } from "knex";
import { toStoredRoomEvent } from "../room/event.js";
import type { PDU, RoomEvent } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { Lru } from "../util/lru.js";
import type { Database } from "./database.js";
import type { TxContext } from "./tx.js";
import { ReadThroughCache } from "../util/read-through-cache.js";

export interface StoredEvent {
  readonly event: RoomEvent;
  readonly nid: number;
  readonly streamOrdering: number | null;
  readonly stateSnapshot: number | null;
  readonly rejectedReason: string | null;
  readonly outlier: boolean;
}

interface EventRow {
  nid: number;
  event_id: string;
  room_id: string;
  stream_ordering: number | null;
  state_snapshot: number | null;
  rejected_reason: string | null;
  outlier: number | boolean;
  json: string;
  room_version: string;
}

/** SQLite caps bound parameters per statement; stay well under it. */
const BATCH = 500;

export class EventStore {
  private readonly cache: Lru<string, StoredEvent>;
  /** Which redactions name each event (mostly none): every event served is checked. */
  private readonly redactions: ReadThroughCache<string, readonly string[]>;
  /** Whether any event relates to each event (mostly not): every timeline event served is checked for bundled aggregations. */
  private readonly related: ReadThroughCache<string, boolean>;

  constructor(private readonly db: Database, cacheSize: number) {
    this.cache = new Lru(cacheSize);
    this.redactions = new ReadThroughCache(cacheSize);
    this.related = new ReadThroughCache(cacheSize);
  }

  /**
   * Which of these events have relations indexed (edits, thread replies,
   * references, annotations). "Yes" may outlive a redacted child (the
   * reader then finds none); "no" is exact: every indexed relation calls
   * `relationArriving` first.
   */
  async withRelations(eventIds: readonly string[]): Promise<Set<string>> {
    const found = await this.related.getMany([...new Set(eventIds)], async (missing) => {
      const out = new Map<string, boolean>(missing.map((id) => [id, false]));
      for (let i = 0; i < missing.length; i += 500) {
        const rows: { relates_to_id: string }[] = await this.db.knex("event_relations")
          .whereIn("relates_to_id", missing.slice(i, i + 500))
          .distinct("relates_to_id");
        for (const r of rows) out.set(r.relates_to_id, true);
      }
      return out;
    });
    return new Set([...found].filter(([, has]) => has).map(([id]) => id));
  }

  /** Drop every held fact about events: for what rewrites the tables under a running server (a migration's test). */
  forgetHeldFacts(): void {
    this.cache.clear();
    this.redactions.invalidateAll();
    this.related.invalidateAll();
  }

  /** A relation to `target` is being indexed in this transaction. */
  relationArriving(ctx: TxContext, target: string): void {
    this.related.invalidate(target);
    ctx.afterCommit(() => this.related.invalidate(target));
  }

  /** The ids of the redaction events naming each event (accepted or not: where they apply is decided by the reader). */
  async redactionsOf(eventIds: readonly string[]): Promise<Map<string, string[]>> {
    const found = await this.redactions.getMany([...new Set(eventIds)], async (missing) => {
      const byTarget = new Map<string, string[]>(missing.map((id) => [id, []]));
      for (let i = 0; i < missing.length; i += 500) {
        const rows: { event_id: string; redacts: string }[] = await this.db.knex("redactions")
          .whereIn("redacts", missing.slice(i, i + 500))
          .select("event_id", "redacts");
        for (const r of rows) byTarget.get(r.redacts)!.push(r.event_id);
      }
      return byTarget;
    });
    const out = new Map<string, string[]>();
    for (const [id, list] of found) if (list.length) out.set(id, [...list]);
    return out;
  }

  /** Record a redaction of `target` in the transaction; what is held of the target is dropped now and after the commit. */
  async addRedaction(ctx: TxContext, redactionId: string, target: string): Promise<void> {
    this.redactions.invalidate(target);
    ctx.afterCommit(() => this.redactions.invalidate(target));
    await ctx.trx("redactions").insert({ event_id: redactionId, redacts: target }).onConflict("event_id").ignore();
  }

  async getEvents(ids: Iterable<string>, trx?: Knex): Promise<Map<string, StoredEvent>> {
    const found = new Map<string, StoredEvent>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const hit = this.cache.get(id);
      if (hit) found.set(id, hit);
      else missing.push(id);
    }
    const q = trx ?? this.db.knex;
    for (let i = 0; i < missing.length; i += BATCH) {
      const rows: EventRow[] = await q("events")
        .join("rooms", "rooms.room_id", "events.room_id")
        .select(
          "events.nid", "events.event_id", "events.room_id", "events.stream_ordering",
          "events.state_snapshot", "events.rejected_reason", "events.outlier", "events.json",
          "rooms.room_version",
        )
        .whereIn("events.event_id", missing.slice(i, i + BATCH));
      for (const row of rows) {
        const stored = rowToStored(row);
        // Inside a transaction the row may yet roll back: cache only committed reads.
        if (!trx) this.cache.set(row.event_id, stored);
        found.set(row.event_id, stored);
      }
    }
    return found;
  }

  async getEvent(id: string, trx?: Knex): Promise<StoredEvent | undefined> {
    return (await this.getEvents([id], trx)).get(id);
  }

  async insert(
    ctx: TxContext,
    event: RoomEvent,
    meta: { streamOrdering: number | null; outlier: boolean; rejectedReason: string | null; stateSnapshot: number | null },
  ): Promise<StoredEvent> {
    const { trx } = ctx;
    const [row] = await trx("events")
      .insert({
        event_id: event.eventId,
        room_id: event.roomId,
        type: event.type,
        state_key: event.stateKey ?? null,
        sender: event.sender,
        depth: event.depth,
        origin_server_ts: event.originServerTs,
        stream_ordering: meta.streamOrdering,
        outlier: meta.outlier,
        rejected_reason: meta.rejectedReason,
        state_snapshot: meta.stateSnapshot,
        received_ts: Date.now(),
        json: JSON.stringify(event.pdu),
      })
      .returning("nid");
    const nid = typeof row === "object" ? (row as { nid: number }).nid : (row as number);
    const prev = [...new Set(event.prevEventIds)];
    if (prev.length) await trx("event_edges").insert(prev.map((p) => ({ event_nid: nid, prev_event_id: p })));
    const auth = [...new Set(event.authEventIds)];
    if (auth.length) await trx("event_auth_edges").insert(auth.map((a) => ({ event_nid: nid, auth_event_id: a })));
    const stored: StoredEvent = { event, nid, ...meta };
    ctx.afterCommit(() => this.cache.set(event.eventId, stored));
    return stored;
  }

  /** An outlier found to be part of the room's history (backfill): it gets a stream position and stops being an outlier. */
  async placeOutlier(ctx: TxContext, stored: StoredEvent, streamOrdering: number, snapshot: number | null): Promise<void> {
    const stateSnapshot = stored.stateSnapshot ?? snapshot;
    await ctx.trx("events").where({ nid: stored.nid }).update({ stream_ordering: streamOrdering, outlier: false, state_snapshot: stateSnapshot });
    const updated: StoredEvent = { ...stored, streamOrdering, outlier: false, stateSnapshot };
    ctx.afterCommit(() => this.cache.set(stored.event.eventId, updated));
  }

  /**
   * An outlier that now arrives as part of the room's DAG (an invite we
   * countersigned, then received through the room): it takes the place
   * and outcome a newly inserted event would, keeping its row and edges.
   */
  async adoptOutlier(ctx: TxContext, stored: StoredEvent, meta: { streamOrdering: number | null; rejectedReason: string | null }): Promise<StoredEvent> {
    await ctx.trx("events").where({ nid: stored.nid }).update({ stream_ordering: meta.streamOrdering, outlier: false, rejected_reason: meta.rejectedReason, state_snapshot: null });
    const updated: StoredEvent = { ...stored, ...meta, outlier: false, stateSnapshot: null };
    ctx.afterCommit(() => this.cache.set(stored.event.eventId, updated));
    return updated;
  }

  /** Record the state after an event inserted in this transaction. */
  async setStateSnapshot(ctx: TxContext, stored: StoredEvent, snapshot: number): Promise<StoredEvent> {
    await ctx.trx("events").where({ nid: stored.nid }).update({ state_snapshot: snapshot });
    const updated: StoredEvent = { ...stored, stateSnapshot: snapshot };
    ctx.afterCommit(() => this.cache.set(stored.event.eventId, updated));
    return updated;
  }

  /** The room's event with the lowest stream position that has state: where our copy of its history begins. */
  async earliestWithState(roomId: string): Promise<StoredEvent | undefined> {
    const row = await this.db.knex("events")
      .where({ room_id: roomId })
      .whereNotNull("stream_ordering")
      .whereNotNull("state_snapshot")
      .orderBy("stream_ordering", "asc")
      .first("event_id");
    return row ? this.getEvent(row.event_id) : undefined;
  }

  async forwardExtremities(roomId: string, trx?: Knex): Promise<string[]> {
    const rows: { event_id: string }[] = await (trx ?? this.db.knex)("forward_extremities")
      .where({ room_id: roomId })
      .select("event_id");
    return rows.map((r) => r.event_id);
  }

  async replaceForwardExtremities(trx: Knex, roomId: string, remove: string[], add: string[]): Promise<void> {
    if (remove.length) await trx("forward_extremities").where({ room_id: roomId }).whereIn("event_id", remove).del();
    if (add.length) {
      await trx("forward_extremities")
        .insert(add.map((event_id) => ({ room_id: roomId, event_id })))
        .onConflict(["room_id", "event_id"])
        .ignore();
    }
  }

  /** Whether some held event already lists `eventId` as a prev event (it is then no extremity). */
  async hasChildren(trx: Knex, eventId: string): Promise<boolean> {
    const row = await trx("event_edges").where({ prev_event_id: eventId }).first("event_nid");
    return row !== undefined;
  }

  /**
   * The events and their whole auth chains, as far as we hold them: what
   * state resolution needs in memory before it runs.
   */
  async loadWithAuthChains(ids: Iterable<string>, trx?: Knex): Promise<Map<string, StoredEvent>> {
    const all = new Map<string, StoredEvent>();
    let frontier = [...new Set(ids)];
    while (frontier.length) {
      const got = await this.getEvents(frontier, trx);
      const next = new Set<string>();
      for (const [id, stored] of got) {
        all.set(id, stored);
        for (const a of stored.event.authEventIds) if (!all.has(a)) next.add(a);
      }
      frontier = [...next].filter((id) => !all.has(id));
    }
    return all;
  }
}

function rowToStored(row: EventRow): StoredEvent {
  const rules = getRoomVersion(row.room_version);
  if (!rules) throw new Error(`room ${row.room_id} has unknown version ${row.room_version}`);
  const pdu = JSON.parse(row.json) as PDU;
  return {
    event: toStoredRoomEvent(pdu, rules, row.event_id, row.room_id),
    nid: row.nid,
    streamOrdering: row.stream_ordering,
    stateSnapshot: row.state_snapshot,
    rejectedReason: row.rejected_reason,
    outlier: Boolean(row.outlier),
  };
}

/**
 * For an index written in an event's own transaction (search, relations):
 * the event's timeline place, or undefined if it has none (an outlier, a
 * rejected event) or an accepted redaction of it arrived first (over
 * federation a redaction may come before its target), so it is never indexed.
 */
export async function placeForIndex(trx: Knex, event: RoomEvent): Promise<{ nid: number; streamOrdering: number } | undefined> {
  const row = await trx("events").where({ event_id: event.eventId }).first("nid", "stream_ordering");
  if (!row || row.stream_ordering === null) return undefined;
  const redacted = await trx("redactions as r")
    .join("events as e", "e.event_id", "r.event_id")
    .where({ "r.redacts": event.eventId, "e.room_id": event.roomId })
    .whereNull("e.rejected_reason")
    .first("r.event_id");
  return redacted ? undefined : { nid: Number(row.nid), streamOrdering: Number(row.stream_ordering) };
}
