/**
 * Invites to rooms this server is not in: the countersigned invite event
 * is kept as an outlier, the invitee's membership row says "invite" with
 * a fresh position in the event stream (so /sync shows it), and the
 * stripped state the inviting server sent stands in for the room's state
 * until someone here joins.
 */
import type { EventPersister } from "../engine/persist.js";
import type { JsonObject, RoomEvent } from "../room/types.js";
import type { Database } from "../storage/database.js";
import type { RoomStore } from "../storage/room-store.js";
import type { StateStore } from "../storage/state-store.js";
import type { StreamIdGenerator } from "../storage/stream-ids.js";
import { inTransaction } from "../storage/tx.js";

export class RemoteInvites {
  private readonly listeners: Array<(userId: string) => void> = [];

  constructor(
    private readonly db: Database,
    private readonly rooms: RoomStore,
    private readonly persister: EventPersister,
    private readonly stream: StreamIdGenerator,
    private readonly states: StateStore,
  ) {}

  listen(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  /** Remember an invite (or our own knock) on a room we are not in. */
  async store(invite: RoomEvent, strippedState: JsonObject[], membership: "invite" | "knock" = "invite"): Promise<void> {
    const userId = invite.stateKey!;
    if (!(await this.rooms.get(invite.roomId))) {
      // The room's row, so its events can be read; its state stays unknown until a join brings it.
      await this.db.knex("rooms")
        .insert({ room_id: invite.roomId, room_version: invite.roomVersion, creator: invite.sender, created_ts: invite.originServerTs })
        .onConflict("room_id")
        .ignore();
    }
    await this.persister.storeOutliers([{ event: invite }]);
    const position = this.stream.next();
    try {
      await inTransaction(this.db, async (ctx) => {
        const { trx } = ctx;
        const current = await trx("room_memberships").where({ room_id: invite.roomId, user_id: userId }).first("membership");
        // Someone here already sees the room (the user is in it): the invite arrives through the room itself.
        if (current?.membership === "join") return;
        this.states.membershipChanging(ctx, invite.roomId, userId);
        await trx("room_memberships")
          .insert({ room_id: invite.roomId, user_id: userId, membership, event_id: invite.eventId, sender: invite.sender, stream_ordering: position.id })
          .onConflict(["room_id", "user_id"])
          .merge();
        await trx("remote_invite_state")
          .insert({ room_id: invite.roomId, user_id: userId, state: JSON.stringify(strippedState) })
          .onConflict(["room_id", "user_id"])
          .merge();
      });
    } finally {
      position.finish();
    }
    for (const l of this.listeners) l(userId);
  }

  /**
   * An invite or knock to a room we are not in that ended without a join:
   * the user's own rejection (make_leave, send_leave), or the inviter's
   * rescinding kick or a ban that reached us. We hold no state for the
   * room, so the membership event is kept as an outlier and is the
   * membership we remember, at a new stream position so /sync shows the
   * room as left.
   */
  async retract(ev: RoomEvent): Promise<void> {
    const userId = ev.stateKey!;
    const membership = ev.content.membership === "ban" ? "ban" : "leave";
    await this.persister.storeOutliers([{ event: ev }]);
    const position = this.stream.next();
    let changed = false;
    try {
      await inTransaction(this.db, async (ctx) => {
        const { trx } = ctx;
        const current = await trx("room_memberships").where({ room_id: ev.roomId, user_id: userId }).first("membership");
        // Joined meanwhile: the room itself now tells us about the user.
        if (current?.membership === "join") return;
        this.states.membershipChanging(ctx, ev.roomId, userId);
        await trx("room_memberships")
          .insert({ room_id: ev.roomId, user_id: userId, membership, event_id: ev.eventId, sender: ev.sender, stream_ordering: position.id })
          .onConflict(["room_id", "user_id"])
          .merge();
        await trx("remote_invite_state").where({ room_id: ev.roomId, user_id: userId }).del();
        changed = true;
      });
    } finally {
      position.finish();
    }
    if (changed) for (const l of this.listeners) l(userId);
  }

  /**
   * Whether a membership event for `userId` from another server ends an
   * invite or knock of theirs to a room we hold no state for (see retract).
   */
  async endsPendingMembership(ev: RoomEvent): Promise<boolean> {
    if (ev.type !== "m.room.member" || ev.stateKey === undefined) return false;
    if (ev.content.membership !== "leave" && ev.content.membership !== "ban") return false;
    const room = await this.rooms.get(ev.roomId);
    if (room && room.currentSnapshot !== null) return false;
    const row = await this.db.knex("room_memberships").where({ room_id: ev.roomId, user_id: ev.stateKey }).first("membership");
    return row?.membership === "invite" || row?.membership === "knock";
  }

  /** The stripped state sent with the user's invite, if the room is one we are not in. */
  async strippedState(roomId: string, userId: string): Promise<JsonObject[] | undefined> {
    const row = await this.db.knex("remote_invite_state").where({ room_id: roomId, user_id: userId }).first("state");
    return row ? (JSON.parse(row.state) as JsonObject[]) : undefined;
  }

  /** Rejected or joined: the stand-in state is no longer needed. */
  async forget(roomId: string, userId: string): Promise<void> {
    await this.db.knex("remote_invite_state").where({ room_id: roomId, user_id: userId }).del();
  }
}
