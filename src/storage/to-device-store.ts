/**
 * To-device messages waiting for their device. Each message takes a
 * position in one stream; a device receives its messages in that order and
 * they are deleted once the device syncs with a token past them, so a
 * message survives restarts until the client has surely seen it.
 */
import type { JsonObject } from "../room/types.js";
import { isUniqueViolation, type Database } from "./database.js";
import { StreamIdGenerator } from "./stream-ids.js";
import { inTransaction } from "./tx.js";
import { pairKey } from "../util/pair-key.js";

export interface ToDeviceMessage {
  readonly userId: string;
  readonly deviceId: string;
  readonly sender: string;
  readonly type: string;
  readonly content: JsonObject;
}

export interface Delivered {
  readonly events: JsonObject[];
  /** Where the device's next sync resumes: the last message given, or the stream position when all were. */
  readonly position: number;
}

export class ToDeviceStore {
  private readonly listeners: Array<(userIds: ReadonlySet<string>) => void> = [];
  /**
   * Devices known to hold no stored messages, so that a sync of one (the
   * common case: most syncs carry none) reads nothing. A device leaves the
   * set before a message for it is written; `queued` counts those writes so
   * a delivery that raced one does not put the device back.
   */
  private readonly empty = new Set<string>();
  private readonly queued = new Map<string, number>();

  private constructor(
    private readonly db: Database,
    readonly stream: StreamIdGenerator,
  ) {}

  static async open(db: Database): Promise<ToDeviceStore> {
    const row = await db.knex("to_device_messages").max({ max: "stream_id" }).first();
    return new ToDeviceStore(db, new StreamIdGenerator(Number(row?.max ?? 0)));
  }

  /** Called with the recipients after each committed batch (the notifier wakes them). */
  listen(listener: (userIds: ReadonlySet<string>) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Queue messages in one transaction, once per sender device and
   * transaction id: false (and nothing queued) when that id was used before.
   */
  async send(senderUserId: string, senderDeviceId: string, txnId: string | null, messages: readonly ToDeviceMessage[]): Promise<boolean> {
    const positions: Array<{ id: number; finish: () => void }> = [];
    try {
      await inTransaction(this.db, async ({ trx }) => {
        if (txnId !== null) {
          await trx("to_device_txns").insert({ user_id: senderUserId, device_id: senderDeviceId, txn_id: txnId, created_ts: Date.now() });
        }
        for (const m of messages) this.queuing(pairKey(m.userId, m.deviceId));
        const rows = messages.map((m) => {
          const p = this.stream.next();
          positions.push(p);
          return { stream_id: p.id, user_id: m.userId, device_id: m.deviceId, sender: m.sender, type: m.type, content: JSON.stringify(m.content) };
        });
        for (let i = 0; i < rows.length; i += 100) await trx("to_device_messages").insert(rows.slice(i, i + 100));
      });
    } catch (err) {
      if (txnId !== null && isUniqueViolation(err)) return false;
      throw err;
    } finally {
      for (const p of positions) p.finish();
      // Again once the positions cover the rows: a delivery that began before this saw neither.
      for (const m of messages) this.queuing(pairKey(m.userId, m.deviceId));
    }
    if (messages.length) {
      const users = new Set(messages.map((m) => m.userId));
      for (const l of this.listeners) l(users);
    }
    return true;
  }

  /**
   * The device's messages after `after`, oldest first, at most `limit`.
   * Syncing from `after` also says the client has everything up to it, so
   * those are deleted first.
   */
  async deliver(userId: string, deviceId: string, after: number, limit: number): Promise<Delivered> {
    const upTo = this.stream.position;
    const key = pairKey(userId, deviceId);
    if (this.empty.has(key)) return { events: [], position: Math.max(upTo, after) };
    const writes = this.queued.get(key) ?? 0;
    await this.db.knex("to_device_messages").where({ user_id: userId, device_id: deviceId }).andWhere("stream_id", "<=", Math.min(after, upTo)).del();
    const rows: { stream_id: number | string; sender: string; type: string; content: string }[] = await this.db.knex("to_device_messages")
      .where({ user_id: userId, device_id: deviceId })
      .andWhere("stream_id", ">", after)
      .andWhere("stream_id", "<=", upTo)
      .orderBy("stream_id")
      .limit(limit)
      .select("stream_id", "sender", "type", "content");
    const events = rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonObject }));
    const position = rows.length === limit ? Number(rows[rows.length - 1].stream_id) : Math.max(upTo, after);
    // Nothing after `after` and everything up to it deleted: the device holds nothing now.
    if (rows.length === 0 && after >= upTo && (this.queued.get(key) ?? 0) === writes) this.empty.add(key);
    return { events, position };
  }

  private queuing(key: string): void {
    this.empty.delete(key);
    this.queued.set(key, (this.queued.get(key) ?? 0) + 1);
  }

  /** Messages for devices that no longer exist would wait for ever. */
  // (A removed device may stay in `empty`: it holds nothing, which stays true.)
  async deleteForDevices(trx: import("knex").Knex, userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length) await trx("to_device_messages").where({ user_id: userId }).whereIn("device_id", deviceIds).del();
  }
}
