/**
 * The rooms we know: their version (fixed at creation) and the snapshot
 * that holds their current state. Versions are cached forever: they never change.
 */
import type { Knex } from "knex";
import type { Database } from "./database.js";

export interface RoomRow {
  roomId: string;
  roomVersion: string;
  creator: string;
  createdTs: number;
  currentSnapshot: number | null;
}

export class RoomStore {
  private readonly versions = new Map<string, string>();

  constructor(private readonly db: Database) {}

  async insert(trx: Knex, row: Omit<RoomRow, "currentSnapshot">): Promise<void> {
    await trx("rooms").insert({
      room_id: row.roomId,
      room_version: row.roomVersion,
      creator: row.creator,
      created_ts: row.createdTs,
      current_snapshot: null,
    });
  }

  async get(roomId: string, trx?: Knex): Promise<RoomRow | undefined> {
    const r = await (trx ?? this.db.knex)("rooms").where({ room_id: roomId }).first();
    if (!r) return undefined;
    return {
      roomId: r.room_id,
      roomVersion: r.room_version,
      creator: r.creator,
      createdTs: Number(r.created_ts),
      currentSnapshot: r.current_snapshot === null ? null : Number(r.current_snapshot),
    };
  }

  async version(roomId: string): Promise<string | undefined> {
    const hit = this.versions.get(roomId);
    if (hit) return hit;
    const row = await this.get(roomId);
    if (row) this.versions.set(roomId, row.roomVersion);
    return row?.roomVersion;
  }

  async setCurrentSnapshot(trx: Knex, roomId: string, snapshot: number): Promise<void> {
    await trx("rooms").where({ room_id: roomId }).update({ current_snapshot: snapshot });
  }
}
