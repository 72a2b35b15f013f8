/**
 * What a user may read of a room, and how events are shown to them:
 * the state set they may see (current while joined, frozen at their leave
 * or ban after, the current state of a world-readable room otherwise), and
 * events rendered with toClientEvent and their accepted redactions.
 */
import type { ServerContext } from "../context.js";
import { toClientEvent } from "../engine/client-event.js";
import { forbidden, notFound } from "../http/errors.js";
import { stateKey, type JsonObject, type RoomEvent, type StateMap } from "../room/types.js";
import type { RoomClientStore } from "./room-data.js";

export class RoomAccess {
  constructor(
    private readonly hs: ServerContext,
    private readonly store: RoomClientStore,
  ) {}

  /** 404 M_NOT_FOUND unless the room is known here. */
  async requireRoom(roomId: string): Promise<void> {
    if ((await this.hs.rooms.version(roomId)) === undefined) throw notFound(`Unknown room ${roomId}`);
  }

  /** 403 unless the user is joined now. */
  async requireJoined(roomId: string, userId: string): Promise<void> {
    await this.requireRoom(roomId);
    const m = await this.store.membership(roomId, userId);
    if (m?.membership !== "join") throw forbidden(`${userId} is not in room ${roomId}`);
  }

  async isWorldReadable(roomId: string): Promise<boolean> {
    const current = await this.hs.states.currentState(roomId);
    const id = current.get(stateKey("m.room.history_visibility", ""));
    if (!id) return false;
    return (await this.hs.events.getEvent(id))?.event.content.history_visibility === "world_readable";
  }

  /**
   * The room state the user may read: the current state while joined (or
   * when the room is world readable), the state at their leave or ban
   * after they were in the room; 403 otherwise (as Synapse).
   */
  async readableState(roomId: string, userId: string): Promise<StateMap> {
    await this.requireRoom(roomId);
    const m = await this.store.membership(roomId, userId);
    if (m?.membership === "join") return this.hs.states.currentState(roomId);
    if (m && (m.membership === "leave" || m.membership === "ban")) {
      const at = await this.hs.events.getEvent(m.eventId);
      // A leave that was a rejected invite or a kick before joining still shows the state then, as Synapse.
      if (at?.stateSnapshot != null) return this.hs.states.getSnapshot(at.stateSnapshot);
    }
    if (await this.isWorldReadable(roomId)) return this.hs.states.currentState(roomId);
    throw forbidden(`${userId} is not in room ${roomId} and it is not world readable`);
  }

  /**
   * Whether the user may page through the room's timeline at all: a member
   * now or before, or a world-readable room. Which events they then see is
   * visibleEvents' call.
   */
  async requireTimelineAccess(roomId: string, userId: string): Promise<void> {
    await this.requireRoom(roomId);
    const m = await this.store.membership(roomId, userId);
    if (m && ["join", "leave", "ban", "invite"].includes(m.membership)) return;
    if (await this.isWorldReadable(roomId)) return;
    throw forbidden(`${userId} is not in room ${roomId}`);
  }

  async loadState(state: StateMap): Promise<RoomEvent[]> {
    const got = await this.hs.events.getEvents(state.values());
    return [...got.values()].map((s) => s.event);
  }

  /** Client events, each with its accepted redaction applied. */
  async render(events: readonly RoomEvent[]): Promise<JsonObject[]> {
    const redactions = await this.hs.events.redactionsOf(events.map((e) => e.eventId));
    const redactionEvents = await this.hs.events.getEvents([...redactions.values()].flat());
    const now = Date.now();
    return events.map((ev) => {
      let redactedBy: RoomEvent | undefined;
      for (const id of redactions.get(ev.eventId) ?? []) {
        const r = redactionEvents.get(id);
        if (r && r.rejectedReason === null && r.event.roomId === ev.roomId) {
          redactedBy = r.event;
          break;
        }
      }
      return toClientEvent(ev, { now, redactedBy });
    });
  }
}
