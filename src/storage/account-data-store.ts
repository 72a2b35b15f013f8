/**
 * Account data: what clients store per user (global) and per user and room
 * (tags, read markers, ...). Each write takes the next account-data stream
 * position, so /sync can send only what changed since a token.
 */
import type { JsonObject } from "../room/types.js";
import type { Database } from "./database.js";
import { StreamIdGenerator } from "./stream-ids.js";
import { pairKey } from "../util/pair-key.js";
import { ReadThroughCache } from "../util/read-through-cache.js";

/** room_id '' holds global account data. */
const GLOBAL = "";

export interface AccountDataChange {
  roomId: string | null;
  type: string;
  content: JsonObject;
}

/** Global account data entries held in memory (m.ignored_user_list, read on every sync, above all). */
const GLOBAL_CACHE_SIZE = 20_000;

export class AccountDataStore {
  private readonly listeners: Array<(userId: string) => void> = [];
  private readonly globals = new ReadThroughCache<string, JsonObject | null>(GLOBAL_CACHE_SIZE);
  /**
   * Each user's newest position written since start: a sync from a token
   * at or past it (the usual case) has nothing to read. `openedAt` stands
   * for users who wrote nothing since.
   */
  private readonly newest = new Map<string, number>();
  private readonly openedAt: number;

  private constructor(
    private readonly db: Database,
    readonly stream: StreamIdGenerator,
  ) {
    this.openedAt = stream.position;
  }

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
    this.newest.set(userId, position.id);
    const write = () => this.db.knex("account_data")
      .insert({ user_id: userId, room_id: roomId ?? GLOBAL, type, content: JSON.stringify(content), stream_id: position.id })
      .onConflict(["user_id", "room_id", "type"])
      .merge(["content", "stream_id"]);
    try {
      await (roomId === null ? this.globals.around(pairKey(userId, type), write) : write());
    } finally {
      position.finish();
    }
    for (const l of this.listeners) l(userId);
    return position.id;
  }

  async get(userId: string, roomId: string | null, type: string): Promise<JsonObject | undefined> {
    const read = async () => {
      const r = await this.db.knex("account_data").where({ user_id: userId, room_id: roomId ?? GLOBAL, type }).first("content");
      return r ? (JSON.parse(r.content) as JsonObject) : null;
    };
    // Callers may change what they are given: each gets its own copy of a held value.
    const content = roomId === null ? structuredCopy(await this.globals.get(pairKey(userId, type), read)) : await read();
    return content ?? undefined;
  }

  /** Everything of a user changed after `since` (all of it for since = 0), up to the readable position. */
  async changedSince(userId: string, since: number): Promise<AccountDataChange[]> {
    if (since >= (this.newest.get(userId) ?? this.openedAt)) return [];
    const rows: { room_id: string; type: string; content: string }[] = await this.db.knex("account_data")
      .where({ user_id: userId })
      .andWhere("stream_id", ">", since)
      .andWhere("stream_id", "<=", this.stream.position)
      .select("room_id", "type", "content");
    return rows.map((r) => ({ roomId: r.room_id === GLOBAL ? null : r.room_id, type: r.type, content: JSON.parse(r.content) }));
  }
}

function structuredCopy(content: JsonObject | null): JsonObject | null {
  return content === null ? null : structuredClone(content);
}
