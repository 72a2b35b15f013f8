/**
 * The client-server form of a room event (ClientEvent): the fields clients
 * read, with `unsigned` filled by the server. One function, so /sync,
 * /messages, /event and /context all show an event the same way.
 */
import { redactContent } from "../room/redaction.js";
import type { JsonObject, RoomEvent } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";

export interface ClientEventOptions {
  /** For `unsigned.age`; defaults to now. */
  readonly now?: number;
  /** Shown only to the device that sent the event. */
  readonly transactionId?: string;
  /** For a state event: the event it replaced in the state, if any. */
  readonly replaces?: RoomEvent;
  /** The accepted redaction of this event, if it was redacted. */
  readonly redactedBy?: RoomEvent;
  /** /sync leaves room_id out of events inside a room's section. */
  readonly omitRoomId?: boolean;
}

export function toClientEvent(ev: RoomEvent, opts: ClientEventOptions = {}): JsonObject {
  const rules = getRoomVersion(ev.roomVersion);
  if (!rules) throw new Error(`unknown room version ${ev.roomVersion}`);
  const unsigned: JsonObject = { age: Math.max(0, (opts.now ?? Date.now()) - ev.originServerTs) };
  if (opts.transactionId !== undefined) unsigned.transaction_id = opts.transactionId;
  let content = ev.content;
  if (opts.redactedBy) {
    content = redactContent(ev.type, ev.content, rules);
    unsigned.redacted_because = toClientEvent(opts.redactedBy, { now: opts.now });
  }
  const out: JsonObject = {
    event_id: ev.eventId,
    type: ev.type,
    sender: ev.sender,
    origin_server_ts: ev.originServerTs,
    content,
    unsigned,
  };
  if (!opts.omitRoomId) out.room_id = ev.roomId;
  if (ev.stateKey !== undefined) {
    out.state_key = ev.stateKey;
    if (opts.replaces) {
      unsigned.prev_content = opts.replaces.content;
      unsigned.replaces_state = opts.replaces.eventId;
      unsigned.prev_sender = opts.replaces.sender;
    }
  }
  // Clients written before v11 read `redacts` at the top level; keep it there too.
  if (ev.type === "m.room.redaction" && ev.redacts !== undefined) out.redacts = ev.redacts;
  return out;
}
