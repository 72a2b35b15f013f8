/** This server's room aliases. */
import { isUniqueViolation, type Database } from "./database.js";

export interface AliasRow {
  alias: string;
  roomId: string;
  creator: string;
}

export class AliasStore {
  constructor(private readonly db: Database) {}

  /** False if the alias is taken. */
  async create(alias: string, roomId: string, creator: string): Promise<boolean> {
    try {
      await this.db.knex("room_aliases").insert({ alias, room_id: roomId, creator });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async get(alias: string): Promise<AliasRow | undefined> {
    const r = await this.db.knex("room_aliases").where({ alias }).first();
    return r ? { alias: r.alias, roomId: r.room_id, creator: r.creator } : undefined;
  }

  async delete(alias: string): Promise<void> {
    await this.db.knex("room_aliases").where({ alias }).del();
  }

  async forRoom(roomId: string): Promise<string[]> {
    const rows: { alias: string }[] = await this.db.knex("room_aliases").where({ room_id: roomId }).orderBy("alias").select("alias");
    return rows.map((r) => r.alias);
  }
}
