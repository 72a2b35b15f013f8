/**
 * Read receipts (m.read, m.read.private), stored per room, type, user and
 * thread. A receipt only ever moves forward in the room's stream: an older
 * event than the one already receipted is ignored, as Synapse does.
 */
import type { Database } from "./database.js";
import { StreamIdGenerator } from "./stream-ids.js";

export interface Receipt {
  roomId: string;
  receiptType: string;
  userId: string;
  /** undefined for an unthreaded receipt. */
  threadId?: string;
  eventId: string;
  ts: number;
}

export class ReceiptStore {
  private readonly listeners: Array<(roomId: string, receipt: Receipt) => void> = [];
  private readonly writing: Array<(receipt: Receipt) => void> = [];
  /** Each room's newest receipt position written since start (`openedAt` for rooms with none): most syncs then read nothing. */
  private readonly newest = new Map<string, number>();
  private readonly openedAt: number;

  private constructor(
    private readonly db: Database,
    readonly stream: StreamIdGenerator,
  ) {
    this.openedAt = stream.position;
  }

  static async open(db: Database): Promise<ReceiptStore> {
    const row = await db.knex("receipts").max({ max: "stream_id" }).first();
    return new ReceiptStore(db, new StreamIdGenerator(Number(row?.max ?? 0)));
  }

  /** Called before each receipt is written (caches derived from receipts drop what it changes). */
  beforeWrite(listener: (receipt: Receipt) => void): void {
    this.writing.push(listener);
  }

  /** Called with the room after each committed receipt (the notifier wakes its members). */
  listen(listener: (roomId: string, receipt: Receipt) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Record a receipt unless it would move backwards. `orderOf` gives an
   * event's stream ordering. Returns whether anything changed.
   */
  async put(r: Receipt, orderOf: (eventId: string) => Promise<number | null>): Promise<boolean> {
    const key = { room_id: r.roomId, receipt_type: r.receiptType, user_id: r.userId, thread_id: r.threadId ?? "" };
    const existing = await this.db.knex("receipts").where(key).first("event_id");
    if (existing) {
      if (existing.event_id === r.eventId) return false;
      const [before, after] = await Promise.all([orderOf(existing.event_id), orderOf(r.eventId)]);
      if (before !== null && after !== null && after < before) return false;
    }
    const position = this.stream.next();
    this.newest.set(r.roomId, position.id);
    for (const l of this.writing) l(r);
    try {
      await this.db.knex("receipts")
        .insert({ ...key, event_id: r.eventId, ts: r.ts, stream_id: position.id })
        .onConflict(["room_id", "receipt_type", "user_id", "thread_id"])
        .merge(["event_id", "ts", "stream_id"]);
    } finally {
      position.finish();
    }
    for (const l of this.listeners) l(r.roomId, r);
    return true;
  }

  /** Receipts in these rooms changed after `since` (all for since = 0), up to the readable position. */
  async changedSince(allRoomIds: string[], since: number): Promise<Receipt[]> {
    const roomIds = allRoomIds.filter((r) => (this.newest.get(r) ?? this.openedAt) > since);
    if (roomIds.length === 0) return [];
    const rows: { room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; ts: number }[] =
      await this.db.knex("receipts")
        .whereIn("room_id", roomIds)
        .andWhere("stream_id", ">", since)
        .andWhere("stream_id", "<=", this.stream.position)
        .select("room_id", "receipt_type", "user_id", "thread_id", "event_id", "ts");
    return rows.map((row) => ({
      roomId: row.room_id,
      receiptType: row.receipt_type,
      userId: row.user_id,
      threadId: row.thread_id === "" ? undefined : row.thread_id,
      eventId: row.event_id,
      ts: Number(row.ts),
    }));
  }
}

/**
 * The m.receipt EDU content for a room as /sync shows it to `viewer`:
 * {event_id: {receipt type: {user: {ts, thread_id?}}}}; private receipts
 * only to their owner.
 */
export function receiptContent(receipts: Receipt[], viewer: string): Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>> {
  const content: Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>> = {};
  for (const r of receipts) {
    if (r.receiptType === "m.read.private" && r.userId !== viewer) continue;
    const byType = (content[r.eventId] ??= {});
    const byUser = (byType[r.receiptType] ??= {});
    byUser[r.userId] = r.threadId === undefined ? { ts: r.ts } : { ts: r.ts, thread_id: r.threadId };
  }
  return content;
}
