/**
 * The one path by which an event enters a room, local or remote:
 * in one transaction the event, its edges, the state after it, the new
 * forward extremities, the room's current state and memberships, and its
 * stream position; then, after commit, the listeners.
 *
 * Callers hold the room's lock (RoomLocks) across building or checking the
 * event and persisting it, so the extremities and state it was checked
 * against are the ones it is committed on.
 */
import type { Knex } from "knex";
import type { Database } from "../storage/database.js";
import { resolveState } from "../room/state-res/index.js";
import { stateKey, type RoomEvent, type StateMap } from "../room/types.js";
import { IMPLICIT_ROOM_VERSION, getRoomVersion, type RoomVersionRules } from "../room/versions.js";
import type { EventStore, StoredEvent } from "../storage/event-store.js";
import type { RoomStore } from "../storage/room-store.js";
import { diffState, type NidResolver, type StateStore } from "../storage/state-store.js";
import type { StreamIdGenerator } from "../storage/stream-ids.js";
import { inTransaction, type TxContext } from "../storage/tx.js";
import type { ResolvedState } from "./state.js";

export interface PersistedEvent {
  readonly event: RoomEvent;
  readonly streamOrdering: number | null;
  /** Whether the room's current state changed with this event. */
  readonly stateChanged: boolean;
}

/** Told about every committed event, after the commit. Must not throw. */
export type PersistListener = (persisted: PersistedEvent) => void;

interface Snapshot {
  readonly id: number;
  readonly state: StateMap;
}

export interface PersistOptions {
  /** The state before the event: the resolved state after its prev_events. */
  readonly stateBefore: ResolvedState;
  /** Why the event failed auth; it is stored (so it is not fetched again) but changes nothing. */
  readonly rejectedReason?: string;
  /** More writes that must commit with the event or not at all (a client's transaction id). */
  readonly withinCommit?: CommitHook;
  /** The event's row when it is already held as an outlier (an invite we countersigned): it takes its place instead of a new row. */
  readonly heldAsOutlier?: StoredEvent;
}

export type CommitHook = (trx: Knex.Transaction, event: RoomEvent) => Promise<void>;

/** Runs inside every persist transaction, after the room has moved on (federation queues the event here). */
export type EveryCommitHook = (trx: Knex.Transaction, event: RoomEvent, accepted: boolean, ctx: TxContext) => Promise<void>;

export class EventPersister {
  private readonly listeners: PersistListener[] = [];
  private readonly commitHooks: EveryCommitHook[] = [];
  private readonly historyHooks: EveryCommitHook[] = [];

  constructor(
    private readonly db: Database,
    private readonly rooms: RoomStore,
    private readonly events: EventStore,
    private readonly states: StateStore,
    private readonly streamIds: StreamIdGenerator,
  ) {}

  onPersisted(listener: PersistListener): void {
    this.listeners.push(listener);
  }

  /**
   * Writes that must commit with every event (the outbound federation
   * queue, the search and relation indexes), or not at all. An index of
   * history (`history: true`) also runs for events backfilled from other
   * servers; the federation queue must not (that history is not ours to send).
   */
  withinEveryCommit(hook: EveryCommitHook, opts: { history?: boolean } = {}): void {
    this.commitHooks.push(hook);
    if (opts.history) this.historyHooks.push(hook);
  }

  async persist(event: RoomEvent, rules: RoomVersionRules, opts: PersistOptions): Promise<PersistedEvent> {
    const rejected = opts.rejectedReason ?? null;
    const position = rejected === null ? this.streamIds.next() : null;
    let result: PersistedEvent;
    try {
      result = await inTransaction(this.db, async (ctx) => {
        if (event.type === "m.room.create" && event.stateKey === "" && rejected === null) {
          await this.createRoomRow(ctx, event);
        }
        const meta = { streamOrdering: position?.id ?? null, rejectedReason: rejected };
        const stored = opts.heldAsOutlier
          ? await this.events.adoptOutlier(ctx, opts.heldAsOutlier, meta)
          : await this.events.insert(ctx, event, { ...meta, outlier: false, stateSnapshot: null });
        const after = await this.storeStateAfter(ctx, event, stored, opts.stateBefore, rejected !== null);
        await this.events.setStateSnapshot(ctx, stored, after.id);
        const stateChanged = rejected === null ? await this.advanceRoom(ctx, event, rules, after) : false;
        if (rejected === null && event.type === "m.room.redaction" && event.redacts !== undefined) {
          // Whether the redaction may apply to its target is decided where events are shown.
          await this.events.addRedaction(ctx, event.eventId, event.redacts);
        }
        await opts.withinCommit?.(ctx.trx, event);
        for (const hook of this.commitHooks) await hook(ctx.trx, event, rejected === null, ctx);
        return { event, streamOrdering: position?.id ?? null, stateChanged };
      });
    } finally {
      // Finished either way: a rolled-back position is simply never used.
      position?.finish();
    }
    for (const listener of this.listeners) listener(result);
    return result;
  }

  /**
   * Events known only as part of a room's history or state (the state and
   * auth chain a join returns, auth events fetched to check an event):
   * stored with no place in the timeline, so they are not fetched again and
   * state can refer to them. With `stateAfter`, an outlier also records the
   * state after it (a missing prev event whose state another server told us).
   * A room joined over federation gets its row from its create event here.
   */
  async storeOutliers(
    events: ReadonlyArray<{ event: RoomEvent; rejectedReason?: string; stateAfter?: StateMap }>,
  ): Promise<void> {
    if (events.length === 0) return;
    await inTransaction(this.db, async (ctx) => {
      for (const { event } of events) {
        if (event.type === "m.room.create" && event.stateKey === "" && !(await this.rooms.get(event.roomId, ctx.trx))) {
          await this.createRoomRow(ctx, event);
        }
      }
      const withState: Array<{ stored: StoredEvent; stateAfter: StateMap }> = [];
      for (const { event, rejectedReason, stateAfter } of events) {
        const existing = await this.events.getEvent(event.eventId, ctx.trx);
        if (existing) {
          if (stateAfter && existing.stateSnapshot === null) withState.push({ stored: existing, stateAfter });
          continue;
        }
        const stored = await this.events.insert(ctx, event, { streamOrdering: null, outlier: true, rejectedReason: rejectedReason ?? null, stateSnapshot: null });
        if (stateAfter) withState.push({ stored, stateAfter });
      }
      // Snapshots last: the state they list may be among the events just inserted.
      for (const { stored, stateAfter } of withState) {
        const id = await this.states.storeSnapshot(ctx, stored.event.roomId, stateAfter, null, this.nids(ctx, stored));
        await this.events.setStateSnapshot(ctx, stored, id);
      }
    });
  }

  /**
   * History fetched from other servers (backfill), older than anything we
   * hold: placed below the room's earliest stream position (negative
   * positions, counting down), with the state snapshot given, and without
   * touching the room's extremities or current state.
   */
  async persistBackfilled(event: RoomEvent, snapshot: number | null, rejectedReason?: string): Promise<void> {
    await inTransaction(this.db, async (ctx) => {
      const existing = await this.events.getEvent(event.eventId, ctx.trx);
      if (existing && (!existing.outlier || existing.streamOrdering !== null || existing.rejectedReason !== null)) return;
      const row = await ctx.trx("events").min({ min: "stream_ordering" }).first();
      const position = Math.min(0, Number(row?.min ?? 0)) - 1;
      if (existing) {
        // Known as state or an auth event of something later; now it takes its place in the history.
        await this.events.placeOutlier(ctx, existing, position, snapshot);
      } else {
        await this.events.insert(ctx, event, {
          streamOrdering: rejectedReason === undefined ? position : null,
          outlier: false,
          rejectedReason: rejectedReason ?? null,
          stateSnapshot: snapshot,
        });
        if (rejectedReason === undefined && event.type === "m.room.redaction" && event.redacts !== undefined) {
          await this.events.addRedaction(ctx, event.eventId, event.redacts);
        }
      }
      const accepted = existing ? existing.rejectedReason === null : rejectedReason === undefined;
      for (const hook of this.historyHooks) await hook(ctx.trx, existing?.event ?? event, accepted, ctx);
    });
  }

  /** A snapshot of `state` for the room, stored on its own (backfilled history's approximate state). */
  async storeSnapshot(roomId: string, state: StateMap): Promise<number> {
    return inTransaction(this.db, (ctx) => this.states.storeSnapshot(ctx, roomId, state, null, this.nids(ctx)));
  }

  private async createRoomRow(ctx: TxContext, create: RoomEvent): Promise<void> {
    const version = typeof create.content.room_version === "string" ? create.content.room_version : IMPLICIT_ROOM_VERSION;
    if (!getRoomVersion(version)) throw new Error(`unsupported room version ${version}`);
    await this.rooms.insert(ctx.trx, {
      roomId: create.roomId,
      roomVersion: version,
      creator: create.sender,
      createdTs: create.originServerTs,
    });
  }

  /** Store the state after the event and return its snapshot id. */
  private async storeStateAfter(
    ctx: TxContext,
    event: RoomEvent,
    stored: StoredEvent,
    before: ResolvedState,
    rejected: boolean,
  ): Promise<Snapshot> {
    // A rejected or non-state event leaves the state as it was before it.
    if (rejected || event.stateKey === undefined) {
      if (before.snapshot !== null) return { id: before.snapshot, state: before.state };
      const id = await this.states.storeSnapshot(ctx, event.roomId, before.state, before.nearest, this.nids(ctx));
      return { id, state: before.state };
    }
    const after = new Map(before.state);
    after.set(stateKey(event.type, event.stateKey), event.eventId);
    const parent = before.snapshot !== null ? { id: before.snapshot, state: before.state } : before.nearest;
    const id = await this.states.storeSnapshot(ctx, event.roomId, after, parent, this.nids(ctx, stored));
    return { id, state: after };
  }

  /**
   * Move the forward extremities past this event and bring the current
   * state up to date with the state at the new extremities.
   */
  private async advanceRoom(ctx: TxContext, event: RoomEvent, rules: RoomVersionRules, after: Snapshot): Promise<boolean> {
    const { trx } = ctx;
    const old = await this.events.forwardExtremities(event.roomId, trx);
    const isChildless = !(await this.events.hasChildren(trx, event.eventId));
    const remove = old.filter((id) => event.prevEventIds.includes(id));
    const next = old.filter((id) => !remove.includes(id));
    if (isChildless) next.push(event.eventId);
    await this.events.replaceForwardExtremities(trx, event.roomId, remove, isChildless ? [event.eventId] : []);

    const room = await this.rooms.get(event.roomId, trx);
    if (!room) throw new Error(`room ${event.roomId} is not stored`);
    let currentSnapshot: number;
    let currentState: StateMap;
    if (next.length === 1 && next[0] === event.eventId) {
      currentSnapshot = after.id;
      if (room.currentSnapshot === after.id) return false;
      currentState = after.state;
    } else {
      const stored = await this.events.getEvents(next, trx);
      const sets = await Promise.all(
        [...new Set([...stored.values()].map((s) => s.stateSnapshot as number))].map((id) => this.states.getSnapshot(id, trx)),
      );
      if (sets.length === 1) {
        currentSnapshot = [...stored.values()][0].stateSnapshot as number;
        if (room.currentSnapshot === currentSnapshot) return false;
        currentState = sets[0];
      } else {
        const ids = new Set<string>();
        for (const s of sets) for (const id of s.values()) ids.add(id);
        const loaded = await this.events.loadWithAuthChains(ids, trx);
        currentState = resolveState(rules, sets, (id) => loaded.get(id)?.event);
        currentSnapshot = await this.states.storeSnapshot(ctx, event.roomId, currentState, after, this.nids(ctx));
      }
    }
    const previous = room.currentSnapshot === null ? new Map<string, string>() : await this.states.getSnapshot(room.currentSnapshot, trx);
    const delta = diffState(previous, currentState);
    const changed = await this.events.getEvents(delta.set.values(), trx);
    const facts = new Map<string, { nid: number; membership?: string; sender: string; streamOrdering: number | null }>();
    for (const [id, s] of changed) {
      const membership = s.event.type === "m.room.member" ? s.event.content.membership : undefined;
      facts.set(id, {
        nid: s.nid,
        membership: typeof membership === "string" ? membership : undefined,
        sender: s.event.sender,
        streamOrdering: s.streamOrdering,
      });
    }
    await this.states.applyCurrentStateDelta(ctx, event.roomId, delta, facts);
    await this.rooms.setCurrentSnapshot(trx, event.roomId, currentSnapshot);
    return delta.set.size > 0 || delta.removed.length > 0;
  }

  /** Event nids for snapshot entries; `fresh` is the event inserted in this transaction. */
  private nids(ctx: TxContext, fresh?: StoredEvent): NidResolver {
    return async (ids) => {
      const out = new Map<string, number>();
      if (fresh) out.set(fresh.event.eventId, fresh.nid);
      const got = await this.events.getEvents(ids.filter((id) => !out.has(id)), ctx.trx);
      for (const [id, s] of got) out.set(id, s.nid);
      return out;
    };
  }
}
