/**
 * Where each room last moved in the event stream, held in memory so that
 * a /sync reads only the rooms that changed since its token: most of a
 * user's rooms are quiet, and a long-poll woken for one room should not
 * query the other ninety-nine.
 *
 * Filled from the persist listener, which runs in the same turn as the
 * stream position that makes the event readable, so no sync can read an
 * event's position before the room is marked. Rooms not seen since start
 * count as changed at the start position: a token from before the start
 * reads them once.
 */
import type { PersistedEvent } from "../engine/persist.js";

export class RoomActivity {
  private readonly newestEvent = new Map<string, number>();
  private readonly newestMember = new Map<string, number>();

  constructor(private readonly openedAt: number) {}

  readonly noted = (p: PersistedEvent): void => {
    if (p.streamOrdering === null) return;
    const roomId = p.event.roomId;
    if (p.streamOrdering > (this.newestEvent.get(roomId) ?? 0)) this.newestEvent.set(roomId, p.streamOrdering);
    if (p.event.type === "m.room.member" && p.streamOrdering > (this.newestMember.get(roomId) ?? 0)) {
      this.newestMember.set(roomId, p.streamOrdering);
    }
  };

  /** Whether the room may hold events after stream position `after`. */
  eventsAfter(roomId: string, after: number): boolean {
    return (this.newestEvent.get(roomId) ?? this.openedAt) > after;
  }

  /** Whether the room may hold membership events after stream position `after`. */
  membersAfter(roomId: string, after: number): boolean {
    return (this.newestMember.get(roomId) ?? this.openedAt) > after;
  }
}
