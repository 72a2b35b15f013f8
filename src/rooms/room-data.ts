/**
 * The rows the Client-Server room endpoints keep beside the DAG
 * (migrations/0002_room_client.ts): transaction ids, redactions, the
 * directory visibility chosen at creation, forgotten rooms.
 */
import type { Knex } from "knex";
import type { Database } from "../storage/database.js";

export interface Membership {
  readonly membership: string;
  readonly eventId: string;
}

export class RoomClientStore {
  constructor(private readonly db: Database) {}

  async txnEvent(userId: string, deviceId: string, txnId: string): Promise<{ roomId: string; eventId: string } | undefined> {
    const r = await this.db.knex("room_txn_ids").where({ user_id: userId, device_id: deviceId, txn_id: txnId }).first("room_id", "event_id");
    return r ? { roomId: r.room_id, eventId: r.event_id } : undefined;
  }

  /** Inside the event's own transaction, so an acknowledged send is never repeated by a retry. */
  async recordTxn(trx: Knex, userId: string, deviceId: string, txnId: string, roomId: string, eventId: string): Promise<void> {
    await trx("room_txn_ids")
      .insert({ user_id: userId, device_id: deviceId, txn_id: txnId, room_id: roomId, event_id: eventId, created_ts: Date.now() })
      .onConflict(["user_id", "device_id", "txn_id"])
      .ignore();
  }

    async visibility(roomId: string): Promise<"public" | "private"> {
    const r = await this.db.knex("room_visibility").where({ room_id: roomId }).first("visibility");
    return r?.visibility === "public" ? "public" : "private";
  }

  async publicRoomIds(): Promise<string[]> {
    const rows: { room_id: string }[] = await this.db.knex("room_visibility").where({ visibility: "public" }).select("room_id");
    return rows.map((r) => r.room_id);
  }

  async setVisibility(roomId: string, visibility: "public" | "private"): Promise<void> {
    await this.db.knex("room_visibility").insert({ room_id: roomId, visibility }).onConflict("room_id").merge();
  }

  async membership(roomId: string, userId: string): Promise<Membership | undefined> {
    const r = await this.db.knex("room_memberships").where({ room_id: roomId, user_id: userId }).first("membership", "event_id");
    return r ? { membership: r.membership, eventId: r.event_id } : undefined;
  }

  async forget(userId: string, roomId: string): Promise<void> {
    await this.db.knex("room_forgotten").insert({ user_id: userId, room_id: roomId }).onConflict(["user_id", "room_id"]).ignore();
  }

  async forgottenRooms(userId: string): Promise<Set<string>> {
    const rows: { room_id: string }[] = await this.db.knex("room_forgotten").where({ user_id: userId }).select("room_id");
    return new Set(rows.map((r) => r.room_id));
  }

  /** Transaction ids of these events when this device sent them (shown back to that device only). */
  async txnIdsOf(userId: string, deviceId: string, eventIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < eventIds.length; i += 500) {
      const rows: { event_id: string; txn_id: string }[] = await this.db.knex("room_txn_ids")
        .where({ user_id: userId, device_id: deviceId })
        .whereIn("event_id", eventIds.slice(i, i + 500))
        .select("event_id", "txn_id");
      for (const r of rows) out.set(r.event_id, r.txn_id);
    }
    return out;
  }

  async unforget(userId: string, roomId: string): Promise<void> {
    await this.db.knex("room_forgotten").where({ user_id: userId, room_id: roomId }).del();
  }

  /**
   * Accepted timeline events of a room by stream ordering: `dir` "b" from
   * `from` (inclusive) down to `to` (exclusive), "f" from after `from` up to
   * `to` (inclusive). Returns event ids with their orderings.
   */
  async page(
    roomId: string,
    dir: "b" | "f",
    from: number,
    to: number | undefined,
    limit: number,
  ): Promise<Array<{ eventId: string; streamOrdering: number }>> {
    const q = this.db.knex("events")
      .where({ room_id: roomId })
      .whereNotNull("stream_ordering")
      .whereNull("rejected_reason");
    if (dir === "b") {
      q.where("stream_ordering", "<=", from);
      if (to !== undefined) q.where("stream_ordering", ">", to);
      q.orderBy("stream_ordering", "desc");
    } else {
      q.where("stream_ordering", ">", from);
      if (to !== undefined) q.where("stream_ordering", "<=", to);
      q.orderBy("stream_ordering", "asc");
    }
    const rows: { event_id: string; stream_ordering: number | string }[] = await q.limit(limit).select("event_id", "stream_ordering");
    return rows.map((r) => ({ eventId: r.event_id, streamOrdering: Number(r.stream_ordering) }));
  }
}
