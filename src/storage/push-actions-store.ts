/**
 * What push rules decided (migrations/0011_push.ts) and what the user has
 * read, from their read receipts (m.read and m.read.private, threaded or
 * not) and their own events (push_read_marks). From those: the unread
 * counts /sync shows, the list /notifications pages through and what
 * pushers have yet to deliver.
 *
 * Two steps, for the cost of writing to SQLite: inside the event's own
 * transaction, ONE row per event (event_push_pending, the recipients and
 * their actions as JSON: a few contiguous pages however big the room);
 * shortly after, in batches of events, those are expanded into one row per
 * user and event (event_push_actions, ordered by user for reading). One
 * row per user written in the event's transaction touched a B-tree page
 * per recipient in each index, which SQLite's WAL writes whole: about
 * 290 ms per message into a 1,000-member room (docs/performance.md).
 * Readers see both tables, pending rows merged in, under a gate that keeps
 * an expansion from moving rows between their two reads; so a count is
 * exact from the moment its event commits, and a crash loses nothing
 * (pending rows are expanded at the next start).
 *
 * An event in thread T is read once the user's unthreaded receipt, or
 * their receipt (or own event) in T, is at or after it; the main timeline
 * is the thread "main".
 */
import type { Knex } from "knex";
import type { JsonValue } from "../room/types.js";
import type { Database } from "./database.js";
import { Lru, sharedRead } from "../util/lru.js";
import type { TxContext } from "./tx.js";
import { pairKey } from "../util/pair-key.js";
import { ReadThroughCache } from "../util/read-through-cache.js";

export const MAIN_THREAD = "main";

export interface PushActionRow {
  readonly userId: string;
  readonly eventId: string;
  readonly roomId: string;
  readonly streamOrdering: number;
  readonly threadId: string;
  readonly highlight: boolean;
  readonly actions: JsonValue[];
  readonly ts: number;
}

export interface UnreadCounts {
  notification_count: number;
  highlight_count: number;
}

export interface RoomUnread {
  /** Every thread and the main timeline together. */
  readonly total: UnreadCounts;
  /** The main timeline alone. */
  readonly main: UnreadCounts;
  /** Threads with something unread, by thread root. */
  readonly threads: Map<string, UnreadCounts>;
}

/** Where a user has read up to in one room: everything (unthreaded), and per thread. */
export interface ReadThresholds {
  unthreaded: number;
  threads: Map<string, number>;
}

const ROOM_CHUNK = 100;
const PRUNE_EVERY_MS = 3600_000;
const PRUNE_BATCH = 5000;
const INSERT_CHUNK = 500;
/** Rows expanded per transaction, so an expansion never holds the database long. */
const EXPAND_ROWS = 5000;

/** One event's outcome for every recipient it notifies. */
export interface PendingPush {
  readonly eventId: string;
  readonly roomId: string;
  readonly streamOrdering: number;
  readonly threadId: string;
  readonly ts: number;
  readonly recipients: ReadonlyArray<{ readonly userId: string; readonly actions: JsonValue[]; readonly highlight: boolean }>;
}

/** As stored: each distinct action list once, and each user the index of theirs. */
interface PendingJson {
  a: JsonValue[][];
  h: number[];
  u: Record<string, number>;
}

interface PendingRow {
  stream_ordering: number | string;
  event_id: string;
  room_id: string;
  thread_id: string;
  ts: number | string;
  recipients: string;
}

/**
 * Many readers or one expansion at a time: an expansion moves rows from
 * one table to the other, and a reader reading both must not see a row
 * twice or not at all.
 */
class ReadWriteGate {
  private readers = 0;
  private writer: Promise<void> | undefined;
  private idle: Array<() => void> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      if (--this.readers === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let done!: () => void;
    this.writer = new Promise<void>((r) => (done = r));
    try {
      while (this.readers > 0) await new Promise<void>((r) => this.idle.push(r));
      return await fn();
    } finally {
      this.writer = undefined;
      done();
    }
  }
}

/** Users' read positions held per room. */
const THRESHOLDS_CACHE_SIZE = 50_000;
/** A room the user never read in (held, so that it is not read again). */
const NEVER_READ: ReadThresholds = { unthreaded: 0, threads: new Map() };

/** Pending events whose parsed recipients are held: each is read by every recipient's /sync until it is expanded. */
const PARSED_PENDING = 1_000;

export class PushActionsStore {
  private readonly gate = new ReadWriteGate();
  /** A pending row never changes, and its recipients (a few bytes per member of the room) are the costly part to read and parse. */
  private readonly recipients = new ReadThroughCache<string, PendingJson>(PARSED_PENDING);
  private readonly readThresholds = new ReadThroughCache<string, ReadThresholds>(THRESHOLDS_CACHE_SIZE);
  /** Shared reads of pending rows, keyed with the number of expansions so far (an expansion changes the answer). */
  private readonly pendingReads = new Lru<string, Promise<Omit<PendingRow, "recipients">[]>>(PARSED_PENDING);
  private expansions = 0;
  /** Unread expanded rows per user and room, with the thresholds they were counted under (see countExpanded). */
  private readonly expandedCounts = new Lru<string, { thresholds: ReadThresholds | undefined; threads: Map<string, { n: number; h: number }> }>(THRESHOLDS_CACHE_SIZE);
  /** The newest stream position of any row expanded since start (rows from before are below every reader's position). */
  private newestExpanded = 0;
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<unknown> | undefined;
  private expanding: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    /** How long after an event to wait before expanding, so that a burst of events is expanded together. */
    private readonly expandDelayMs = 100,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Inside the event's own transaction: one row for the event, whatever the number of recipients. */
  async insertPending(trx: Knex, p: PendingPush): Promise<void> {
    const json: PendingJson = { a: [], h: [], u: {} };
    const index = new Map<string, number>();
    for (const r of p.recipients) {
      const key = JSON.stringify(r.actions);
      let i = index.get(key);
      if (i === undefined) {
        i = json.a.length;
        index.set(key, i);
        json.a.push(r.actions);
        json.h.push(r.highlight ? 1 : 0);
      }
      json.u[r.userId] = i;
    }
    await trx("event_push_pending").insert({
      stream_ordering: p.streamOrdering, event_id: p.eventId, room_id: p.roomId, thread_id: p.threadId, ts: p.ts, recipients: JSON.stringify(json),
    });
  }

  /** After a commit: expand soon, together with whatever else arrives meanwhile. */
  scheduleExpand(delayMs = this.expandDelayMs): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expand().catch(this.onError);
    }, delayMs);
    this.timer.unref?.();
  }

  /** Expand every pending event into per-user rows (one expansion at a time; callers may await it). */
  expand(): Promise<void> {
    if (!this.expanding) {
      this.expanding = this.expandAll().finally(() => (this.expanding = undefined));
    }
    return this.expanding;
  }

  /** Every hour, delete notifications older than `keepMs` (0 keeps them forever). */
  startPruning(keepMs: number): void {
    if (keepMs <= 0 || this.closed) return;
    this.pruneTimer = setInterval(() => {
      if (this.pruning) return;
      this.pruning = this.prune(Date.now() - keepMs).catch(this.onError).finally(() => (this.pruning = undefined));
    }, PRUNE_EVERY_MS);
    this.pruneTimer.unref?.();
  }

  /**
   * Delete notifications from before `cutoff` (ms), a few thousand rows per
   * statement so the database is never held long; returns how many went.
   * Their counts go with them: an unread notification older than the
   * retention is no longer counted.
   */
  async prune(cutoff: number): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < 10_000 && !this.closed; i++) {
      // The ts of the PRUNE_BATCH-th oldest row bounds this statement's delete.
      const nth = await this.db.knex("event_push_actions").where("ts", "<", cutoff).orderBy("ts").offset(PRUNE_BATCH).first("ts");
      const bound = nth ? Number(nth.ts) : cutoff;
      // Under the gate like an expansion: a reader never sees a row in one read and not the next.
      // Counts held go with the rows (cleared inside the gate, before any reader can count again).
      let n = await this.gate.write(async () => {
        this.expandedCounts.clear();
        return this.db.knex("event_push_actions").where("ts", "<", bound).del();
      });
      // Rows share a ts (an event's recipients): take the whole group at the bound, which is before the cutoff.
      if (n === 0 && nth) {
        n = await this.gate.write(async () => {
          this.expandedCounts.clear();
          return this.db.knex("event_push_actions").where("ts", "<=", bound).del();
        });
      }
      deleted += n;
      if (!nth) break;
    }
    return deleted;
  }

  /** Stop expanding; let one under way finish (before the database closes). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.pruneTimer);
    await this.pruning;
    await this.expanding?.catch(() => {});
  }

  private async expandAll(): Promise<void> {
    // Bounded: what is pending now, in batches; later arrivals have their own schedule.
    for (let batches = 0; batches < 1000 && !this.closed; batches++) {
      let more = false;
      await this.gate.write(async () => {
        this.expansions++;
        let committed: PushActionRow[] = [];
        await this.db.knex.transaction(async (trx) => {
          const rows: PendingRow[] = await trx("event_push_pending").orderBy("stream_ordering").limit(200).select("*");
          const take: PendingRow[] = [];
          let n = 0;
          for (const r of rows) {
            const size = Object.keys((JSON.parse(r.recipients) as PendingJson).u).length;
            if (take.length > 0 && n + size > EXPAND_ROWS) break;
            take.push(r);
            n += size;
          }
          if (take.length === 0) return;
          more = take.length < rows.length || rows.length === 200;
          const expanded = take.flatMap((r) => expandRow(r));
          for (let i = 0; i < expanded.length; i += INSERT_CHUNK) {
            await trx("event_push_actions")
              .insert(expanded.slice(i, i + INSERT_CHUNK).map((r) => ({
                user_id: r.userId, event_id: r.eventId, room_id: r.roomId, stream_ordering: r.streamOrdering, thread_id: r.threadId,
                highlight: r.highlight ? 1 : 0, actions: JSON.stringify(r.actions), ts: r.ts,
              })));
          }
          // Deleted in the same transaction: each pending row is expanded exactly once.
          await trx("event_push_pending").whereIn("stream_ordering", take.map((r) => Number(r.stream_ordering))).del();
          committed = expanded;
        });
        this.heldCountsTakeIn(committed);
      });
      if (!more) return;
    }
  }

  /** Pending events' rows for one user, or for anyone in `roomIds`, up to `upTo` (read under the gate). */
  private async pendingRows(filter: { userId: string; roomIds?: readonly string[]; after?: number; before?: number; upTo?: number }): Promise<PushActionRow[]> {
    const q = this.db.knex("event_push_pending");
    if (filter.roomIds) q.whereIn("room_id", [...filter.roomIds]);
    if (filter.after !== undefined) q.where("stream_ordering", ">", filter.after);
    if (filter.before !== undefined) q.where("stream_ordering", "<", filter.before);
    if (filter.upTo !== undefined) q.where("stream_ordering", "<=", filter.upTo);
    // A real promise (a knex builder runs its query again on each then).
    const read = async (): Promise<Omit<PendingRow, "recipients">[]> => q.orderBy("stream_ordering").select("stream_ordering", "event_id", "room_id", "thread_id", "ts");
    // Up to a readable position the pending rows change only by expansion (which waits for readers): a message's recipients share one read.
    let rows: Omit<PendingRow, "recipients">[];
    if (filter.upTo !== undefined && filter.before === undefined) {
      const key = [this.expansions, filter.upTo, filter.after ?? "", ...(filter.roomIds ?? ["*"])].join("\u0000");
      rows = await sharedRead(this.pendingReads, key, read);
    } else {
      rows = await read();
    }
    // One read for every sync that wants them at once (a message wakes the whole room together).
    const parsed = await this.recipients.getMany(rows.map((r) => r.event_id), (missing) => this.readRecipients(missing));
    return rows.flatMap((r) => {
      const json = parsed.get(r.event_id);
      // Expanded and deleted between the two reads cannot happen: expansion waits for readers (the gate).
      return json ? expandParsed(r, json, filter.userId) : [];
    });
  }

  private async readRecipients(eventIds: string[]): Promise<Map<string, PendingJson>> {
    const out = new Map<string, PendingJson>();
    for (let i = 0; i < eventIds.length; i += 500) {
      const rows: { event_id: string; recipients: string }[] = await this.db.knex("event_push_pending")
        .whereIn("event_id", eventIds.slice(i, i + 500))
        .select("event_id", "recipients");
      for (const r of rows) out.set(r.event_id, JSON.parse(r.recipients) as PendingJson);
    }
    return out;
  }

  /** The user sent an event: what is before it in its thread counts as read (inside the event's transaction). */
  async markReadBySending(ctx: TxContext, userId: string, roomId: string, threadId: string, streamOrdering: number): Promise<void> {
    this.readingMoved(userId, roomId);
    ctx.afterCommit(() => this.readingMoved(userId, roomId));
    await ctx.trx("push_read_marks")
      .insert({ user_id: userId, room_id: roomId, thread_id: threadId, stream_ordering: streamOrdering })
      .onConflict(["user_id", "room_id", "thread_id"])
      .merge(["stream_ordering"]);
  }

  /**
   * How far the user has read in each room (rooms never read map to
   * nothing: everything counts), from memory when held: every /sync answer
   * with a room counts from these. Writers call `readingMoved` before and
   * after: a receipt, and the user's own event (markReadBySending). A
   * receipt naming an event we do not hold yet counts once the user's next
   * receipt moves; a local user's receipts name events they were served.
   */
  async thresholds(userId: string, roomIds: readonly string[]): Promise<Map<string, ReadThresholds>> {
    const keys = roomIds.map((r) => pairKey(userId, r));
    const roomOf = new Map(keys.map((k, i) => [k, roomIds[i]]));
    const found = await this.readThresholds.getMany(keys, async (missing) => {
      const rooms = missing.map((k) => roomOf.get(k)!);
      const loaded = await this.loadThresholds(userId, rooms);
      return new Map(rooms.map((r) => [pairKey(userId, r), loaded.get(r) ?? NEVER_READ]));
    });
    const out = new Map<string, ReadThresholds>();
    roomIds.forEach((r, i) => {
      const t = found.get(keys[i]);
      if (t && t !== NEVER_READ) out.set(r, t);
    });
    return out;
  }

  readingMoved(userId: string, roomId: string): void {
    this.readThresholds.invalidate(pairKey(userId, roomId));
  }

  private async loadThresholds(userId: string, roomIds: readonly string[]): Promise<Map<string, ReadThresholds>> {
    const out = new Map<string, ReadThresholds>();
    const at = (roomId: string) => {
      let t = out.get(roomId);
      if (!t) out.set(roomId, (t = { unthreaded: 0, threads: new Map() }));
      return t;
    };
    const raise = (roomId: string, threadId: string, ordering: number) => {
      const t = at(roomId);
      if (threadId === "") t.unthreaded = Math.max(t.unthreaded, ordering);
      else t.threads.set(threadId, Math.max(t.threads.get(threadId) ?? 0, ordering));
    };
    for (let i = 0; i < roomIds.length; i += ROOM_CHUNK) {
      const chunk = roomIds.slice(i, i + ROOM_CHUNK);
      const receipts: { room_id: string; thread_id: string; stream_ordering: number | string | null }[] = await this.db.knex("receipts as r")
        .join("events as e", "e.event_id", "r.event_id")
        .where("r.user_id", userId)
        .whereIn("r.room_id", chunk)
        .whereIn("r.receipt_type", ["m.read", "m.read.private"])
        .select("r.room_id", "r.thread_id", "e.stream_ordering");
      for (const r of receipts) if (r.stream_ordering !== null) raise(r.room_id, r.thread_id, Number(r.stream_ordering));
      const marks: { room_id: string; thread_id: string; stream_ordering: number | string }[] = await this.db.knex("push_read_marks")
        .where("user_id", userId)
        .whereIn("room_id", chunk)
        .select("room_id", "thread_id", "stream_ordering");
      for (const m of marks) raise(m.room_id, m.thread_id, Number(m.stream_ordering));
    }
    return out;
  }

  /**
   * Unread notification and highlight counts per room, up to stream
   * position `upTo`, from one grouped query per 100 rooms: each room's
   * (and thread's) read threshold is a condition of its own.
   */
  async unread(userId: string, roomIds: readonly string[], upTo: number): Promise<Map<string, RoomUnread>> {
    const out = new Map<string, RoomUnread>();
    if (roomIds.length === 0) return out;
    const thresholds = await this.thresholds(userId, roomIds);
    const add = (roomId: string, threadId: string, n: number, h: number) => {
      let room = out.get(roomId);
      if (!room) {
        room = { total: zero(), main: zero(), threads: new Map() };
        out.set(roomId, room);
      }
      room.total.notification_count += n;
      room.total.highlight_count += h;
      const t = threadId === MAIN_THREAD ? room.main : room.threads.get(threadId) ?? zero();
      if (threadId !== MAIN_THREAD) room.threads.set(threadId, t);
      t.notification_count += n;
      t.highlight_count += h;
    };
    await this.gate.read(async () => {
      for (const r of await this.pendingRows({ userId, roomIds, upTo })) {
        if (!isRead(thresholds.get(r.roomId), r.threadId, r.streamOrdering)) add(r.roomId, r.threadId, 1, r.highlight ? 1 : 0);
      }
      await this.countExpanded(userId, roomIds, upTo, thresholds, add);
    });
    return out;
  }

  /**
   * The user's unread expanded rows per room and thread. Held per user and
   * room with the read thresholds they were counted under, and kept
   * current by each expansion (which adds its unread rows to what is
   * held); a new threshold object (the user read on), a prune, or a
   * position below the newest expanded row counts from the database.
   */
  private async countExpanded(
    userId: string, roomIds: readonly string[], upTo: number, thresholds: Map<string, ReadThresholds>,
    add: (roomId: string, threadId: string, n: number, h: number) => void,
  ): Promise<void> {
    const toRead: string[] = [];
    for (const roomId of roomIds) {
      const held = upTo >= this.newestExpanded ? this.expandedCounts.get(pairKey(userId, roomId)) : undefined;
      if (!held || held.thresholds !== thresholds.get(roomId)) {
        toRead.push(roomId);
        continue;
      }
      for (const [threadId, c] of held.threads) add(roomId, threadId, c.n, c.h);
    }
    if (toRead.length === 0) return;
    const counted = new Map<string, Map<string, { n: number; h: number }>>(toRead.map((r) => [r, new Map()]));
    await this.readExpanded(userId, toRead, upTo, thresholds, (roomId, threadId, n, h) => {
      counted.get(roomId)?.set(threadId, { n, h });
      add(roomId, threadId, n, h);
    });
    // Counted under the gate, so no expansion ran meanwhile; held only when the count covers every expanded row.
    if (upTo >= this.newestExpanded) {
      for (const [roomId, threads] of counted) this.expandedCounts.set(pairKey(userId, roomId), { thresholds: thresholds.get(roomId), threads });
    }
  }

  /** Expansion committed these rows: what is held of their users' counts takes in the unread ones. */
  private heldCountsTakeIn(rows: readonly PushActionRow[]): void {
    for (const r of rows) {
      this.newestExpanded = Math.max(this.newestExpanded, r.streamOrdering);
      const held = this.expandedCounts.get(pairKey(r.userId, r.roomId));
      if (!held || isRead(held.thresholds, r.threadId, r.streamOrdering)) continue;
      const c = held.threads.get(r.threadId) ?? { n: 0, h: 0 };
      held.threads.set(r.threadId, { n: c.n + 1, h: c.h + (r.highlight ? 1 : 0) });
    }
  }

  private async readExpanded(
    userId: string, roomIds: readonly string[], upTo: number, thresholds: Map<string, ReadThresholds>,
    add: (roomId: string, threadId: string, n: number, h: number) => void,
  ): Promise<void> {
    for (let i = 0; i < roomIds.length; i += ROOM_CHUNK) {
      const chunk = roomIds.slice(i, i + ROOM_CHUNK);
      const rows: { room_id: string; thread_id: string; n: number | string; h: number | string | null }[] = await this.db.knex("event_push_actions")
        .where("user_id", userId)
        .where("stream_ordering", "<=", upTo)
        .where((q) => {
          for (const roomId of chunk) {
            const t = thresholds.get(roomId) ?? { unthreaded: 0, threads: new Map<string, number>() };
            q.orWhere((r) => {
              r.where("room_id", roomId);
              const threaded = [...t.threads].filter(([, s]) => s > t.unthreaded);
              if (threaded.length === 0) {
                r.where("stream_ordering", ">", t.unthreaded);
                return;
              }
              r.where((w) => {
                for (const [threadId, s] of threaded) w.orWhere((x) => x.where("thread_id", threadId).where("stream_ordering", ">", s));
                w.orWhere((x) => x.whereNotIn("thread_id", threaded.map(([id]) => id)).where("stream_ordering", ">", t.unthreaded));
              });
            });
          }
        })
        .groupBy("room_id", "thread_id")
        .select("room_id", "thread_id")
        .count({ n: "*" })
        .sum({ h: "highlight" });
      for (const r of rows) add(r.room_id, r.thread_id, Number(r.n), Number(r.h ?? 0));
    }
  }

  /**
   * The user's notifications in `roomIds`, newest first, below stream
   * position `before` (all when undefined). Rooms are named so the one
   * index, (user, room, position), serves the query.
   */
  async list(userId: string, roomIds: readonly string[], opts: { before?: number; limit: number; onlyHighlight: boolean }): Promise<PushActionRow[]> {
    return this.gate.read(async () => {
      let out: PushActionRow[] = [];
      for (let i = 0; i < roomIds.length; i += ROOM_CHUNK) {
        const q = this.db.knex("event_push_actions").where("user_id", userId).whereIn("room_id", roomIds.slice(i, i + ROOM_CHUNK));
        if (opts.before !== undefined) q.where("stream_ordering", "<", opts.before);
        if (opts.onlyHighlight) q.where("highlight", 1);
        const rows: ExpandedRow[] = await q.orderBy("stream_ordering", "desc").limit(opts.limit).select("*");
        out = [...out, ...rows.map(rowOf)].sort((a, b) => b.streamOrdering - a.streamOrdering).slice(0, opts.limit);
      }
      const pending = (await this.pendingRows({ userId, roomIds, before: opts.before })).filter((r) => !opts.onlyHighlight || r.highlight);
      return [...pending, ...out].sort((a, b) => b.streamOrdering - a.streamOrdering).slice(0, opts.limit);
    });
  }

  /** The user's notifications in `roomIds` after `after` up to `upTo`, oldest first (what a pusher has yet to deliver). */
  async pending(userId: string, roomIds: readonly string[], after: number, upTo: number, limit: number): Promise<PushActionRow[]> {
    return this.gate.read(async () => {
      let out: PushActionRow[] = [];
      for (let i = 0; i < roomIds.length; i += ROOM_CHUNK) {
        const rows: ExpandedRow[] = await this.db.knex("event_push_actions")
          .where("user_id", userId)
          .whereIn("room_id", roomIds.slice(i, i + ROOM_CHUNK))
          .where("stream_ordering", ">", after)
          .where("stream_ordering", "<=", upTo)
          .orderBy("stream_ordering", "asc")
          .limit(limit)
          .select("*");
        out = [...out, ...rows.map(rowOf)].sort((a, b) => a.streamOrdering - b.streamOrdering).slice(0, limit);
      }
      const pending = await this.pendingRows({ userId, roomIds, after, upTo });
      return [...out, ...pending].sort((a, b) => a.streamOrdering - b.streamOrdering).slice(0, limit);
    });
  }
}

function zero(): UnreadCounts {
  return { notification_count: 0, highlight_count: 0 };
}

/** Whether the event at `ordering` in `threadId` is read, given the room's thresholds. */
export function isRead(t: ReadThresholds | undefined, threadId: string, ordering: number): boolean {
  if (!t) return false;
  return ordering <= t.unthreaded || ordering <= (t.threads.get(threadId) ?? 0);
}

/** A pending event's rows: for every recipient, or only for `onlyUser`. */
function expandRow(r: PendingRow, onlyUser?: string): PushActionRow[] {
  return expandParsed(r, JSON.parse(r.recipients) as PendingJson, onlyUser);
}

function expandParsed(r: Omit<PendingRow, "recipients">, json: PendingJson, onlyUser?: string): PushActionRow[] {
  const base = { eventId: r.event_id, roomId: r.room_id, streamOrdering: Number(r.stream_ordering), threadId: r.thread_id, ts: Number(r.ts) };
  const users = onlyUser === undefined ? Object.keys(json.u) : Object.hasOwn(json.u, onlyUser) ? [onlyUser] : [];
  return users.map((userId) => ({ ...base, userId, actions: json.a[json.u[userId]], highlight: json.h[json.u[userId]] === 1 }));
}

interface ExpandedRow {
  user_id: string;
  event_id: string;
  room_id: string;
  stream_ordering: number | string;
  thread_id: string;
  highlight: number | string;
  actions: string;
  ts: number | string;
}

function rowOf(r: ExpandedRow): PushActionRow {
  return {
    userId: r.user_id,
    eventId: r.event_id,
    roomId: r.room_id,
    streamOrdering: Number(r.stream_ordering),
    threadId: r.thread_id,
    highlight: Number(r.highlight) === 1,
    actions: JSON.parse(r.actions) as JsonValue[],
    ts: Number(r.ts),
  };
}
