/**
 * The plain data the room engine works on.
 *
 * A PDU is the event as it travels between servers and is hashed and
 * signed. A RoomEvent is that PDU with the things every rule needs already
 * pulled out (its id, its parents as ids whatever the version's wire shape),
 * so that the auth rules and state resolution never re-derive them.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** `{ "sha256": "<unpadded base64>" }` */
export type EventHashes = { sha256: string } & JsonObject;

/** `{ "<server>": { "ed25519:<key id>": "<unpadded base64>" } }` */
export type Signatures = Record<string, Record<string, string>>;

/** v1–v2 reference a parent as `[event_id, hashes]`; v3+ by id alone. */
export type EventReference = string | [string, EventHashes];

/** An event as it is hashed, signed and sent over federation. */
export interface PDU {
  /** Present only in v1–v2 (server-assigned ids). */
  event_id?: string;
  /** Absent only on a v12 m.room.create (its id is the room id). */
  room_id?: string;
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
  origin_server_ts: number;
  depth: number;
  prev_events: EventReference[];
  auth_events: EventReference[];
  hashes: EventHashes;
  signatures: Signatures;
  unsigned?: JsonObject;
  /** Top-level in v1–v10 redactions; in content from v11. */
  redacts?: string;
  origin?: string;
  [key: string]: unknown;
}

/** A PDU with the derived fields every rule needs. Immutable once built. */
export interface RoomEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly roomVersion: string;
  readonly type: string;
  /** undefined for a message event, a string (possibly "") for state. */
  readonly stateKey: string | undefined;
  readonly sender: string;
  readonly content: JsonObject;
  readonly originServerTs: number;
  readonly depth: number;
  readonly prevEventIds: readonly string[];
  readonly authEventIds: readonly string[];
  /** The redacted event's id for m.room.redaction, wherever the version puts it. */
  readonly redacts: string | undefined;
  readonly pdu: PDU;
}

/**
 * A room state: (type, state_key) -> event id. Keys are built with
 * `stateKey()` so that every module agrees on the encoding.
 */
export type StateMap = ReadonlyMap<string, string>;

const SEP = "\u0000";

/** The map key for a (type, state_key) pair. NUL never appears in either in practice,
 * and an event carrying one is rejected by the format checks. */
export function stateKey(type: string, key: string): string {
  return type + SEP + key;
}

export function splitStateKey(k: string): [type: string, stateKey: string] {
  const i = k.indexOf(SEP);
  return [k.slice(0, i), k.slice(i + 1)];
}

export function isState(ev: RoomEvent): boolean {
  return ev.stateKey !== undefined;
}

/** Synchronous event lookup for the pure algorithms; callers preload what they need. */
export type EventLookup = (eventId: string) => RoomEvent | undefined;

/** Auth rules see the room state as a lookup by (type, state_key). */
export type StateLookup = (type: string, stateKey: string) => RoomEvent | undefined;

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthError";
  }
}

/** A malformed event: wrong shape, too big, bad hash. */
export class EventFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EventFormatError";
  }
}

/** An event over the 65,536-byte limit. */
export class EventTooLargeError extends EventFormatError {
  constructor(message: string) {
    super(message);
    this.name = "EventTooLargeError";
  }
}
