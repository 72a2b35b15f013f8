/**
 * The device-list stream: one row each time a user's devices or
 * cross-signing keys change. /sync and /keys/changes read it to tell the
 * users who share a room with them to query the keys again.
 */
import type { Knex } from "knex";
import type { Database } from "./database.js";
import { StreamIdGenerator } from "./stream-ids.js";
import type { TxContext } from "./tx.js";

export class DeviceListStore {
  private readonly listeners: Array<(userId: string) => void> = [];

  private constructor(
    private readonly db: Database,
    readonly stream: StreamIdGenerator,
  ) {}

  static async open(db: Database): Promise<DeviceListStore> {
    const row = await db.knex("device_list_changes").max({ max: "stream_id" }).first();
    return new DeviceListStore(db, new StreamIdGenerator(Number(row?.max ?? 0)));
  }

  /** Called with the user after each committed change (the notifier wakes who shares a room with them). */
  listen(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  /** Record a change inside the caller's transaction; readers see it once that commits. */
  async recordIn(tx: TxContext, userId: string): Promise<void> {
    const position = this.stream.next();
    tx.finally(position.finish);
    tx.afterCommit(() => {
      for (const l of this.listeners) l(userId);
    });
    await tx.trx("device_list_changes").insert({ stream_id: position.id, user_id: userId });
  }

  /** Record a change on its own. */
  async record(userId: string): Promise<void> {
    const position = this.stream.next();
    try {
      await this.db.knex("device_list_changes").insert({ stream_id: position.id, user_id: userId });
    } finally {
      position.finish();
    }
    for (const l of this.listeners) l(userId);
  }

  /** Users whose devices changed in (after, upTo]. */
  async changedBetween(after: number, upTo: number, trx?: Knex): Promise<Set<string>> {
    if (upTo <= after) return new Set();
    const rows: { user_id: string }[] = await (trx ?? this.db.knex)("device_list_changes")
      .where("stream_id", ">", after)
      .andWhere("stream_id", "<=", upTo)
      .distinct("user_id");
    return new Set(rows.map((r) => r.user_id));
  }
}
