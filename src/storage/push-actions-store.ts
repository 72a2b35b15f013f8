/**
 * What push rules decided (migrations/0011_push.ts, event_push_actions):
 * one row per user and event that notifies, written in the event's own
 * transaction; and what the user has read, from their read receipts
 * (m.read and m.read.private, threaded or not) and from their own events
 * (push_read_marks). From those: the unread counts /sync shows and the
 * list /notifications pages through.
 *
 * An event in thread T is read once the user's unthreaded receipt, or
 * their receipt (or own event) in T, is at or after it; the main timeline
 * is the thread "main".
 */
import type { Knex } from "knex";
import type { JsonValue } from "../room/types.js";
import type { Database } from "./database.js";

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
const INSERT_CHUNK = 500;

export class PushActionsStore {
  constructor(private readonly db: Database) {}

  /** Inside the event's own transaction: one multi-row insert (per 500 rows). */
  async insert(trx: Knex, rows: readonly PushActionRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx("event_push_actions")
        .insert(rows.slice(i, i + INSERT_CHUNK).map((r) => ({
          user_id: r.userId, event_id: r.eventId, room_id: r.roomId, stream_ordering: r.streamOrdering, thread_id: r.threadId,
          highlight: r.highlight ? 1 : 0, actions: JSON.stringify(r.actions), ts: r.ts,
        })))
        .onConflict(["user_id", "event_id"])
        .ignore();
    }
  }

  /** The user sent an event: what is before it in its thread counts as read (inside the event's transaction). */
  async markReadBySending(trx: Knex, userId: string, roomId: string, threadId: string, streamOrdering: number): Promise<void> {
    await trx("push_read_marks")
      .insert({ user_id: userId, room_id: roomId, thread_id: threadId, stream_ordering: streamOrdering })
      .onConflict(["user_id", "room_id", "thread_id"])
      .merge(["stream_ordering"]);
  }

  /** How far the user has read in each room (rooms never read map to nothing: everything counts). */
  async thresholds(userId: string, roomIds: readonly string[]): Promise<Map<string, ReadThresholds>> {
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
      for (const r of rows) {
        let room = out.get(r.room_id);
        if (!room) {
          room = { total: zero(), main: zero(), threads: new Map() };
          out.set(r.room_id, room);
        }
        const n = Number(r.n);
        const h = Number(r.h ?? 0);
        room.total.notification_count += n;
        room.total.highlight_count += h;
        if (r.thread_id === MAIN_THREAD) {
          room.main.notification_count += n;
          room.main.highlight_count += h;
        } else {
          room.threads.set(r.thread_id, { notification_count: n, highlight_count: h });
        }
      }
    }
    return out;
  }

  /** The user's notifications, newest first, below stream position `before` (all when undefined). */
  async list(userId: string, opts: { before?: number; limit: number; onlyHighlight: boolean }): Promise<PushActionRow[]> {
    const q = this.db.knex("event_push_actions").where("user_id", userId);
    if (opts.before !== undefined) q.where("stream_ordering", "<", opts.before);
    if (opts.onlyHighlight) q.where("highlight", 1);
    const rows: { user_id: string; event_id: string; room_id: string; stream_ordering: number | string; thread_id: string; highlight: number | string; actions: string; ts: number | string }[] =
      await q.orderBy("stream_ordering", "desc").limit(opts.limit).select("*");
    return rows.map(rowOf);
  }

  /** The user's notifications after `after` up to `upTo`, oldest first (what a pusher has yet to deliver). */
  async pending(userId: string, after: number, upTo: number, limit: number): Promise<PushActionRow[]> {
    const rows = await this.db.knex("event_push_actions")
      .where("user_id", userId)
      .where("stream_ordering", ">", after)
      .where("stream_ordering", "<=", upTo)
      .orderBy("stream_ordering", "asc")
      .limit(limit)
      .select("*");
    return rows.map(rowOf);
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

function rowOf(r: { user_id: string; event_id: string; room_id: string; stream_ordering: number | string; thread_id: string; highlight: number | string; actions: string; ts: number | string }): PushActionRow {
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
