/**
 * Account data: what clients store per user (global) and per user and room
 * (tags, read markers, ...). Each write takes the next account-data stream
 * position, so /sync can send only what changed since a token.
 */
import type { JsonObject } from "../room/types.js";
import type { Database } from "./database.js";
import { StreamIdGenerator } from "./stream-ids.js";

/** room_id '' holds global account data. */
const GLOBAL = "";

export interface AccountDataChange {
  roomId: string | null;
  type: string;
  content: JsonObject;
}

export class AccountDataStore {
  private readonly listeners: Array<(userId: string) => void> = [];

  private constructor(
    private readonly db: Database,
    readonly stream: StreamIdGenerator,
  ) {}

  static async open(db: Database): Promise<AccountDataStore> {
    const row = await db.knex("account_data").max({ max: "stream_id" }).first();
    return new AccountDataStore(db, new StreamIdGenerator(Number(row?.max ?? 0)));
  }

  /** Called with the user after each committed change (the notifier wakes them). */
  listen(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  async put(userId: string, roomId: string | null, type: string, content: JsonObject): Promise<number> {
    const position = this.stream.next();
    try {
      await this.db.knex("account_data")
        .insert({ user_id: userId, room_id: roomId ?? GLOBAL, type, content: JSON.stringify(content), stream_id: position.id })
        .onConflict(["user_id", "room_id", "type"])
        .merge(["content", "stream_id"]);
    } finally {
      position.finish();
    }
    for (const l of this.listeners) l(userId);
    return position.id;
  }

  async get(userId: string, roomId: string | null, type: string): Promise<JsonObject | undefined> {
    const r = await this.db.knex("account_data").where({ user_id: userId, room_id: roomId ?? GLOBAL, type }).first("content");
    return r ? (JSON.parse(r.content) as JsonObject) : undefined;
  }

  /** Everything of a user changed after `since` (all of it for since = 0), up to the readable position. */
  async changedSince(userId: string, since: number): Promise<AccountDataChange[]> {
    const rows: { room_id: string; type: string; content: string }[] = await this.db.knex("account_data")
      .where({ user_id: userId })
      .andWhere("stream_id", ">", since)
      .andWhere("stream_id", "<=", this.stream.position)
      .select("room_id", "type", "content");
    return rows.map((r) => ({ roomId: r.room_id === GLOBAL ? null : r.room_id, type: r.type, content: JSON.parse(r.content) }));
  }
}
