/**
 * Who must hear about whose devices. A user's clients track the devices of
 * everyone they share an encrypted room with; /sync and /keys/changes tell
 * them whose device lists changed (query again) and whom they no longer
 * share any room with (stop tracking).
 */
import type { ServerContext } from "../context.js";
import type { PersistedEvent } from "../engine/persist.js";
import { serverNameOf } from "../room/identifiers.js";

export interface DeviceListWindow {
  /** Event stream positions: membership changes between them matter too. */
  readonly fromEvents: number;
  readonly toEvents: number;
  /** Device-list stream positions. */
  readonly fromDevices: number;
  readonly toDevices: number;
}

export interface DeviceListChanges {
  readonly changed: string[];
  readonly left: string[];
}

const CHUNK = 500;

export async function deviceListChanges(hs: ServerContext, userId: string, w: DeviceListWindow): Promise<DeviceListChanges> {
  const knex = hs.db.knex;
  const keysChanged = await hs.deviceLists.changedBetween(w.fromDevices, w.toDevices);
  // Users who joined or left a room with the user, or whose rooms the user joined or left.
  const arrived = new Set<string>();
  const departed = new Set<string>();
  if (w.toEvents > w.fromEvents) {
    // Only rooms whose membership moved in the window (known from memory) can hold such events.
    const roomIds = (await hs.states.memberships(userId)).map((m) => m.room_id).filter((r) => hs.roomActivity.membersAfter(r, w.fromEvents));
    for (let i = 0; i < roomIds.length; i += CHUNK) {
      const rows: { room_id: string; state_key: string; json: string }[] = await knex("events")
        .whereIn("room_id", roomIds.slice(i, i + CHUNK))
        .where({ type: "m.room.member" })
        .where("stream_ordering", ">", w.fromEvents)
        .where("stream_ordering", "<=", w.toEvents)
        .whereNull("rejected_reason")
        .whereNotNull("state_snapshot")
        .select("room_id", "state_key", "json");
      for (const r of rows) {
        const membership = (JSON.parse(r.json) as { content?: { membership?: unknown } }).content?.membership;
        const joining = membership === "join";
        if (r.state_key === userId) {
          // The user's own join or leave: everyone in that room may be new or gone.
          const members = await hs.states.membersOfRoom(r.room_id, "join");
          for (const m of members) (joining ? arrived : departed).add(m);
        } else if (joining) {
          arrived.add(r.state_key);
        } else if (membership === "leave" || membership === "ban") {
          departed.add(r.state_key);
        }
      }
    }
  }
  const candidates = new Set<string>([...keysChanged, ...arrived, ...departed]);
  candidates.delete(userId);
  const sharing = await usersSharingARoom(hs, userId, [...candidates]);
  const changed = new Set<string>();
  if (keysChanged.has(userId)) changed.add(userId);
  for (const u of candidates) {
    if (sharing.has(u) && (keysChanged.has(u) || arrived.has(u))) changed.add(u);
  }
  const left = [...departed].filter((u) => u !== userId && !sharing.has(u));
  return { changed: [...changed].sort(), left: left.sort() };
}

/** Which of `others` share at least one joined room with `userId` now. */
export async function usersSharingARoom(hs: ServerContext, userId: string, others: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  if (others.length === 0) return out;
  const mine = await hs.states.roomsForUser(userId, "join");
  if (mine.length === 0) return out;
  for (let i = 0; i < others.length; i += CHUNK) {
    for (let j = 0; j < mine.length; j += CHUNK) {
      const rows: { user_id: string }[] = await hs.db.knex("room_memberships")
        .whereIn("user_id", others.slice(i, i + CHUNK))
        .whereIn("room_id", mine.slice(j, j + CHUNK))
        .where({ membership: "join" })
        .distinct("user_id");
      for (const r of rows) out.add(r.user_id);
    }
  }
  return out;
}

/** Local users who share a room with `userId` (and the user), to wake when their devices change. */
export async function localUsersToTell(hs: ServerContext, userId: string): Promise<Set<string>> {
  const users = new Set<string>([userId]);
  for (const roomId of await hs.states.roomsForUser(userId, "join")) {
    for (const u of await hs.notifier.localUsers(roomId)) users.add(u);
  }
  return users;
}

/**
 * A local user who joins a room starts a device-list change of their own:
 * the room's other servers are told the joiner's devices (the device-list
 * EDUs go to every server sharing a room with them), and the joiner's own
 * clients see themselves among `changed`, as on Synapse. A join that only
 * changes a profile (join after join) is not a new join.
 */
export function deviceListChangeOnJoin(hs: ServerContext): (p: PersistedEvent) => void {
  return ({ event: ev, stateChanged }) => {
    if (!stateChanged || ev.type !== "m.room.member" || ev.content.membership !== "join" || ev.stateKey === undefined) return;
    if (serverNameOf(ev.stateKey) !== hs.config.server_name) return;
    const userId = ev.stateKey;
    void (async () => {
      // The target's previous member event is among the auth events of a membership change.
      const auth = await hs.events.getEvents(ev.authEventIds);
      const before = [...auth.values()].find((s) => s.event.type === "m.room.member" && s.event.stateKey === userId);
      if (before?.event.content.membership === "join") return;
      await hs.deviceLists.record(userId);
    })().catch((err) => hs.log.warn("could not record a joiner's device list", { user_id: userId, err: String(err) }));
  };
}
