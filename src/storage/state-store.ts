/**
 * Room state: snapshots stored as deltas from a parent snapshot, the
 * current state of each room, and each user's current membership.
 *
 * On disk a snapshot entry is two small integers (state key nid, event nid).
 * In memory the stored links (deltas) are cached, and hot snapshots whole,
 * both bounded by the number of state entries they hold.
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

/** A snapshot as stored: what it changes from its parent (null removes a key). */
interface SnapshotLink {
  readonly id: number;
  readonly parent: number | null;
  readonly entries: ReadonlyMap<string, string | null>;
}

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
  /** Snapshots held whole, weighed by their entries. */
  private readonly snapshots: Lru<number, StateMap>;
  /** Snapshots as stored (each one's changes from its parent), weighed by their entries. */
  private readonly links: Lru<number, SnapshotLink>;
  private readonly userMemberships = new ReadThroughCache<string, readonly MembershipRow[]>(MEMBERSHIPS_CACHE_SIZE);
  private readonly summaries = new ReadThroughCache<string, MemberSummary>(SUMMARY_CACHE_SIZE);
  private readonly chainLengths = new Lru<number, number>(10_000);
  private readonly keyNids = new Map<string, number>();

  constructor(
    private readonly db: Database,
    cacheSize: number,
    private readonly maxChain: number,
  ) {
    this.snapshots = new Lru(cacheSize, (state) => state.size + 1);
    this.links = new Lru(cacheSize, (link) => link.entries.size + 1);
  }

  /**
   * A snapshot's whole state. Rebuilt from its chain of links (each cached
   * on its own, so the deltas of a big room's snapshots share one copy of
   * their common base), starting from the nearest ancestor already held
   * whole. Read inside a transaction, nothing is cached: the rows may not
   * be committed.
   */
  async getSnapshot(id: number, trx?: Knex): Promise<StateMap> {
    const hit = this.snapshots.get(id);
    if (hit) return hit;
    const chain = await this.chain(id, trx);
    // The nearest ancestor held whole saves applying everything above it.
    let base: StateMap | undefined;
    let from = chain.length;
    for (let i = 1; i < chain.length; i++) {
      base = this.snapshots.peek(chain[i].id);
      if (base) {
        from = i;
        break;
      }
    }
    const state = new Map<string, string>(base);
    for (let i = from - 1; i >= 0; i--) {
      for (const [k, v] of chain[i].entries) {
        if (v === null) state.delete(k);
        else state.set(k, v);
      }
    }
    if (!trx) this.snapshots.set(id, state);
    return state;
  }

  /**
   * The event ids of a few state keys in a snapshot (undefined where unset),
   * read from its links without rebuilding it: history visibility asks two
   * keys of the state at every event it judges.
   */
  async stateValues(id: number, keys: readonly string[], trx?: Knex): Promise<Array<string | undefined>> {
    const whole = this.snapshots.get(id);
    if (whole) return keys.map((k) => whole.get(k));
    const chain = await this.chain(id, trx);
    return keys.map((k) => {
      for (const link of chain) {
        const v = link.entries.get(k);
        if (v !== undefined) return v ?? undefined;
      }
      return undefined;
    });
  }

  /** The links of a snapshot, itself first and its root last: from memory as far as held, the rest in two queries. */
  private async chain(id: number, trx?: Knex): Promise<SnapshotLink[]> {
    const out: SnapshotLink[] = [];
    let next: number | null = id;
    while (next !== null) {
      const link = this.links.get(next);
      if (!link) break;
      out.push(link);
      next = link.parent;
    }
    if (next === null) return out;
    const q = trx ?? this.db.knex;
    // The ids up to the root (one cheap query); entries are read only for those below the first link held.
    const ids = rawRows<{ id: number; parent_id: number | null }>(
      await q.raw(
        `WITH RECURSIVE chain(id, parent_id, n) AS (
           SELECT id, parent_id, 0 FROM state_snapshots WHERE id = ?
           UNION ALL
           SELECT s.id, s.parent_id, chain.n + 1 FROM state_snapshots s JOIN chain ON s.id = chain.parent_id
         ) SELECT id, parent_id FROM chain ORDER BY n`,
        [next],
      ),
    ).map((r) => ({ id: Number(r.id), parent: r.parent_id === null ? null : Number(r.parent_id) }));
    if (ids.length === 0) throw new Error(`state snapshot ${next} does not exist`);
    const missing: typeof ids = [];
    for (const link of ids) {
      if (this.links.peek(link.id)) break;
      missing.push(link);
    }
    const rows: { snapshot_id: number; type: string; state_key: string; event_id: string | null }[] = [];
    for (let i = 0; i < missing.length; i += BATCH) {
      rows.push(...(await q("state_snapshot_entries as e")
        .join("state_keys as k", "k.nid", "e.state_key_nid")
        .leftJoin("events as ev", "ev.nid", "e.event_nid")
        .whereIn("e.snapshot_id", missing.slice(i, i + BATCH).map((c) => c.id))
        .select("e.snapshot_id", "k.type", "k.state_key", "ev.event_id")));
    }
    const entriesOf = new Map<number, Map<string, string | null>>(missing.map((m) => [m.id, new Map()]));
    for (const r of rows) entriesOf.get(Number(r.snapshot_id))!.set(stateKey(r.type, r.state_key), r.event_id);
    for (const m of missing) {
      const link: SnapshotLink = { id: m.id, parent: m.parent, entries: entriesOf.get(m.id)! };
      if (!trx) this.links.set(m.id, link);
      out.push(link);
    }
    // Above the loaded part: links held in memory (read again, as one may have left the cache meanwhile).
    next = missing.length ? missing[missing.length - 1].parent : next;
    if (next !== null) out.push(...(await this.chain(next, trx)));
    return out;
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
    const link: SnapshotLink = { id, parent: parentId, entries: new Map(entries) };
    ctx.afterCommit(() => {
      this.snapshots.set(id, frozen);
      this.links.set(id, link);
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
