/**
 * Room state: snapshots stored as deltas from a parent snapshot, the
 * current state of each room, and each user's current membership.
 *
 * On disk a snapshot entry is two small integers (state key nid, event nid).
 * In memory a snapshot is a StateMap; hot ones live in a bounded cache.
 */
import type { Knex } from "knex";
import { splitStateKey, stateKey, type StateMap } from "../room/types.js";
import { Lru } from "../util/lru.js";
import { ReadThroughCache } from "../util/read-through-cache.js";
import type { Database } from "./database.js";
import type { TxContext } from "./tx.js";

export interface StateDelta {
  /** Keys set or replaced. */
  readonly set: Map<string, string>;
  /** Keys removed (state resolution can drop a key). */
  readonly removed: string[];
}

/** Maps event ids to their nids (for the entries a snapshot writes). */
export type NidResolver = (eventIds: string[]) => Promise<Map<string, number>>;

export function diffState(from: StateMap, to: StateMap): StateDelta {
  const set = new Map<string, string>();
  for (const [k, v] of to) if (from.get(k) !== v) set.set(k, v);
  const removed = [...from.keys()].filter((k) => !to.has(k));
  return { set, removed };
}

const BATCH = 500;

/** knex.raw answers with rows on SQLite and with { rows } on PostgreSQL. */
function rawRows<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : ((result as { rows: T[] }).rows);
}

/** A user's membership of one room, as room_memberships holds it. */
export interface MembershipRow {
  readonly room_id: string;
  readonly membership: string;
  readonly event_id: string;
  readonly stream_ordering: number | null;
}

/** Counts of a room's members and the first few of them by id (the /sync summary's heroes come from these). */
export interface MemberSummary {
  readonly joined: number;
  readonly invited: number;
  /** Joined and invited members, sorted, at most SUMMARY_FIRST_MEMBERS. */
  readonly first: readonly string[];
}

/** Members a summary keeps: five heroes, plus one for the user asking, who is never their own hero. */
export const SUMMARY_FIRST_MEMBERS = 6;
const SUMMARY_CACHE_SIZE = 10_000;

/** Users whose room memberships are held in memory: every /sync of theirs reads them. */
const MEMBERSHIPS_CACHE_SIZE = 20_000;

export class StateStore {
  private readonly snapshots: Lru<number, StateMap>;
  private readonly userMemberships = new ReadThroughCache<string, readonly MembershipRow[]>(MEMBERSHIPS_CACHE_SIZE);
  private readonly summaries = new ReadThroughCache<string, MemberSummary>(SUMMARY_CACHE_SIZE);
  private readonly chainLengths = new Lru<number, number>(10_000);
  private readonly keyNids = new Map<string, number>();

  constructor(
    private readonly db: Database,
    cacheSize: number,
    private readonly maxChain: number,
  ) {
    this.snapshots = new Lru(cacheSize);
  }

  async getSnapshot(id: number, trx?: Knex): Promise<StateMap> {
    const hit = this.snapshots.get(id);
    if (hit) return hit;
    const q = trx ?? this.db.knex;
    // The chain from this snapshot up to its root, then the entries of each link.
    const chain = rawRows<{ id: number; parent_id: number | null }>(
      await q.raw(
        `WITH RECURSIVE chain(id, parent_id, n) AS (
           SELECT id, parent_id, 0 FROM state_snapshots WHERE id = ?
           UNION ALL
           SELECT s.id, s.parent_id, chain.n + 1 FROM state_snapshots s JOIN chain ON s.id = chain.parent_id
         ) SELECT id, parent_id FROM chain ORDER BY n DESC`,
        [id],
      ),
    );
    if (chain.length === 0) throw new Error(`state snapshot ${id} does not exist`);
    const rows: { snapshot_id: number; type: string; state_key: string; event_id: string | null }[] = await q(
      "state_snapshot_entries as e",
    )
      .join("state_keys as k", "k.nid", "e.state_key_nid")
      .leftJoin("events as ev", "ev.nid", "e.event_nid")
      .whereIn("e.snapshot_id", chain.map((c) => c.id))
      .select("e.snapshot_id", "k.type", "k.state_key", "ev.event_id");
    const byLink = new Map<number, typeof rows>();
    for (const r of rows) {
      const list = byLink.get(r.snapshot_id) ?? [];
      list.push(r);
      byLink.set(r.snapshot_id, list);
    }
    const state = new Map<string, string>();
    for (const link of chain) {
      for (const r of byLink.get(link.id) ?? []) {
        const k = stateKey(r.type, r.state_key);
        if (r.event_id === null) state.delete(k);
        else state.set(k, r.event_id);
      }
    }
    if (!trx) this.snapshots.set(id, state);
    return state;
  }

  /**
   * Store `state` as a new snapshot, as a delta from `parent` when the
   * chain stays short, else whole. Returns the new snapshot id.
   */
  async storeSnapshot(
    ctx: TxContext,
    roomId: string,
    state: StateMap,
    parent: { id: number; state: StateMap } | null,
    resolveNids: NidResolver,
  ): Promise<number> {
    const { trx } = ctx;
    let parentId: number | null = null;
    let chainLength = 0;
    let entries: Array<[string, string | null]>;
    const parentChain = parent ? await this.chainLength(trx, parent.id) : 0;
    if (parent && parentChain < this.maxChain) {
      const delta = diffState(parent.state, state);
      parentId = parent.id;
      chainLength = parentChain + 1;
      entries = [...delta.set, ...delta.removed.map((k): [string, null] => [k, null])];
    } else {
      entries = [...state];
    }
    const [row] = await trx("state_snapshots")
      .insert({ room_id: roomId, parent_id: parentId, chain_length: chainLength })
      .returning("id");
    const id = typeof row === "object" ? (row as { id: number }).id : (row as number);
    const eventNids = await resolveNids(entries.map(([, e]) => e).filter((e): e is string => e !== null));
    const values = [];
    for (const [k, eventId] of entries) {
      const keyNid = await this.stateKeyNid(ctx, k);
      let eventNid: number | null = null;
      if (eventId !== null) {
        eventNid = eventNids.get(eventId) ?? null;
        if (eventNid === null) throw new Error(`state event ${eventId} is not stored`);
      }
      values.push({ snapshot_id: id, state_key_nid: keyNid, event_nid: eventNid });
    }
    for (let i = 0; i < values.length; i += BATCH) {
      await trx("state_snapshot_entries").insert(values.slice(i, i + BATCH));
    }
    const frozen = new Map(state);
    ctx.afterCommit(() => {
      this.snapshots.set(id, frozen);
      this.chainLengths.set(id, chainLength);
    });
    return id;
  }

  private async chainLength(trx: Knex, id: number): Promise<number> {
    const hit = this.chainLengths.get(id);
    if (hit !== undefined) return hit;
    const row = await trx("state_snapshots").where({ id }).first("chain_length");
    if (!row) throw new Error(`state snapshot ${id} does not exist`);
    return Number(row.chain_length);
  }

  /** The small integer id of a (type, state_key) pair, created on first use. */
  async stateKeyNid(ctx: TxContext, key: string): Promise<number> {
    const hit = this.keyNids.get(key);
    if (hit !== undefined) return hit;
    const [type, sk] = splitStateKey(key);
    await ctx.trx("state_keys").insert({ type, state_key: sk }).onConflict(["type", "state_key"]).ignore();
    const row = await ctx.trx("state_keys").where({ type, state_key: sk }).first("nid");
    const nid = Number(row.nid);
    ctx.afterCommit(() => this.keyNids.set(key, nid));
    return nid;
  }

  /** Rewrite a room's current state and memberships by the difference between two states. */
  async applyCurrentStateDelta(
    ctx: TxContext,
    roomId: string,
    delta: StateDelta,
    events: Map<string, { nid: number; membership?: string; sender: string; streamOrdering: number | null }>,
  ): Promise<void> {
    const { trx } = ctx;
    for (const k of delta.removed) {
      const [type, sk] = splitStateKey(k);
      await trx("current_state").where({ room_id: roomId, type, state_key: sk }).del();
      if (type === "m.room.member") {
        this.membershipChanging(ctx, roomId, sk);
        await trx("room_memberships").where({ room_id: roomId, user_id: sk }).del();
      }
    }
    for (const [k, eventId] of delta.set) {
      const [type, sk] = splitStateKey(k);
      const ev = events.get(eventId);
      if (!ev) throw new Error(`current state event ${eventId} not given`);
      await trx("current_state")
        .insert({ room_id: roomId, type, state_key: sk, event_nid: ev.nid, event_id: eventId })
        .onConflict(["room_id", "type", "state_key"])
        .merge();
      if (type === "m.room.member") {
        this.membershipChanging(ctx, roomId, sk);
        await trx("room_memberships")
          .insert({
            room_id: roomId,
            user_id: sk,
            membership: ev.membership ?? "leave",
            event_id: eventId,
            sender: ev.sender,
            stream_ordering: ev.streamOrdering,
          })
          .onConflict(["room_id", "user_id"])
          .merge();
      }
    }
  }

  async currentState(roomId: string, trx?: Knex): Promise<Map<string, string>> {
    const rows: { type: string; state_key: string; event_id: string }[] = await (trx ?? this.db.knex)(
      "current_state",
    )
      .where({ room_id: roomId })
      .select("type", "state_key", "event_id");
    return new Map(rows.map((r) => [stateKey(r.type, r.state_key), r.event_id]));
  }

  /** Every room a user has a membership of (joined, invited, left...), from memory when held. */
  memberships(userId: string): Promise<readonly MembershipRow[]> {
    return this.userMemberships.get(userId, () =>
      this.db.knex("room_memberships").where({ user_id: userId }).select("room_id", "membership", "event_id", "stream_ordering"));
  }

  /**
   * Every writer of a user's room_memberships row calls this in its
   * transaction: the held rows are dropped now and again after the commit.
   */
  membershipChanging(ctx: TxContext, roomId: string, userId: string): void {
    const drop = () => {
      this.userMemberships.invalidate(userId);
      this.summaries.invalidate(roomId);
    };
    drop();
    ctx.afterCommit(drop);
  }

  /** The room's member counts and first members, from memory when held (every /sync answer with the room shows them). */
  memberSummary(roomId: string): Promise<MemberSummary> {
    return this.summaries.get(roomId, async () => {
      const rows: { user_id: string; membership: string }[] = await this.db.knex("room_memberships")
        .where({ room_id: roomId })
        .whereIn("membership", ["join", "invite"])
        .select("user_id", "membership");
      const joined = rows.filter((r) => r.membership === "join").length;
      const first = rows.map((r) => r.user_id).sort().slice(0, SUMMARY_FIRST_MEMBERS);
      return { joined, invited: rows.length - joined, first };
    });
  }

  async roomsForUser(userId: string, membership = "join"): Promise<string[]> {
    return (await this.memberships(userId)).filter((m) => m.membership === membership).map((m) => m.room_id);
  }

  /** A user's current membership in a room, if they have one. */
  async membershipOf(roomId: string, userId: string): Promise<string | undefined> {
    const row = await this.db.knex("room_memberships").where({ room_id: roomId, user_id: userId }).first("membership");
    return row?.membership;
  }

  async membersOfRoom(roomId: string, membership = "join"): Promise<string[]> {
    const rows: { user_id: string }[] = await this.db.knex("room_memberships")
      .where({ room_id: roomId, membership })
      .select("user_id");
    return rows.map((r) => r.user_id);
  }
}
