/**
 * Event format checks: the shape every PDU must have in its room version
 * (the spec's pdu_v1/v3/v4/v6/v11/v12 definitions) and the size limits
 * (client-server API: size limits). A failing event is rejected whole with
 * the reason, before any of it is stored: over federation it is dropped,
 * not rejected, so nothing here may depend on room state.
 */
import { CanonicalJsonError } from "../crypto/canonical-json.js";
import { canonicalForVersion } from "./event-id.js";
import { isValidUserId, SERVER_NAME } from "./identifiers.js";
import { EventFormatError, EventTooLargeError, type PDU } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

/** The whole event, canonical JSON with signatures, in bytes. */
export const MAX_EVENT_BYTES = 65_536;
/** sender, room_id, state_key, type and event_id, each in bytes. */
export const MAX_ID_BYTES = 255;
/** The PDU schemas: "Must contain less than or equal to 20 / 10 events". */
export const MAX_PREV_EVENTS = 20;
export const MAX_AUTH_EVENTS = 10;
/**
 * v6+ say depth must stay within 2^53-1; v1–v5 say 2^63-1, but a JSON
 * number above 2^53 has already lost precision by the time we see it, so
 * its hash and signature could not be checked anyway.
 */
const MAX_DEPTH = Number.MAX_SAFE_INTEGER;

/** A reference hash is 32 bytes: 43 unpadded base64 characters. */
const HASH_ID_V3 = /^\$[A-Za-z0-9+/]{43}$/;
const HASH_ID_V4 = /^\$[A-Za-z0-9_-]{43}$/;
const HASH_ROOM_ID = /^![A-Za-z0-9_-]{43}$/;

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

function fail(reason: string): never {
  throw new EventFormatError(reason);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Code points, not UTF-16 units: "💥" is one. */
const codePointLength = (s: string) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

function checkIdString(pdu: PDU, key: "sender" | "room_id" | "state_key" | "type" | "event_id", received: boolean): void {
  const v = pdu[key];
  if (v === undefined) return;
  if (typeof v !== "string") fail(`${key} must be a string`);
  if (received ? codePointLength(v) > MAX_ID_BYTES : utf8Length(v) > MAX_ID_BYTES) {
    fail(`${key} is longer than ${MAX_ID_BYTES} ${received ? "code points" : "bytes"}`);
  }
  if (v.includes("\u0000")) fail(`${key} contains NUL`);
}

/** `&opaque:server`: opaque non-empty and free of ':' (the first colon ends it), server per the grammar. */
function isDomainId(sigil: string, id: string): boolean {
  const colon = id.indexOf(":");
  return id.startsWith(sigil) && colon > 1 && SERVER_NAME.test(id.slice(colon + 1));
}

function isEventIdFor(id: string, rules: RoomVersionRules): boolean {
  switch (rules.eventIdFormat) {
    case "server-assigned":
      return isDomainId("$", id);
    case "reference-hash":
      return HASH_ID_V3.test(id);
    case "reference-hash-urlsafe":
      return HASH_ID_V4.test(id);
  }
}

function checkReferences(pdu: PDU, key: "prev_events" | "auth_events", max: number, rules: RoomVersionRules): void {
  const refs = pdu[key];
  if (!Array.isArray(refs)) fail(`${key} must be an array`);
  if (refs.length > max) fail(`${key} holds more than ${max} events`);
  for (const ref of refs) {
    let id: unknown = ref;
    if (rules.eventIdFormat === "server-assigned") {
      // v1–v2: [event_id, {"sha256": ...}]
      if (!Array.isArray(ref) || ref.length !== 2 || !isObject(ref[1])) fail(`${key} entries must be [event_id, hashes] in this room version`);
      id = ref[0];
    }
    if (typeof id !== "string" || utf8Length(id) > MAX_ID_BYTES || !isEventIdFor(id, rules)) {
      fail(`${key} holds a malformed event id for this room version`);
    }
  }
}

function checkRoomId(pdu: PDU, rules: RoomVersionRules): void {
  const isCreate = pdu.type === "m.room.create" && pdu.state_key === "";
  if (rules.roomIdFromCreateEvent && isCreate) {
    // v12: the create event's own hash is the room id, so it cannot carry one.
    if (pdu.room_id !== undefined) fail("an m.room.create event has no room_id in this room version");
    return;
  }
  const roomId = pdu.room_id;
  if (typeof roomId !== "string") fail("room_id is required");
  const ok = rules.roomIdFromCreateEvent ? HASH_ROOM_ID.test(roomId) : isDomainId("!", roomId);
  if (!ok) fail("room_id is not a room id of this room version");
}

function checkSignatures(sigs: unknown): void {
  if (!isObject(sigs)) fail("signatures must be an object");
  for (const byKey of Object.values(sigs)) {
    if (!isObject(byKey) || Object.values(byKey).some((s) => typeof s !== "string")) {
      fail("signatures must map servers to key ids to strings");
    }
  }
}

/**
 * The format rules. `received`: an event from another server, whose id
 * fields are held to 255 code points rather than the spec's 255 bytes,
 * because that is what Synapse has always enforced: rooms it accepted hold
 * such events (a state key of 70 emoji), and refusing them would leave us
 * unable to accept anything built on them. Our own events keep to bytes.
 */
export function checkEventFormat(pdu: PDU, rules: RoomVersionRules, opts: { received?: boolean } = {}): void {
  if (!isObject(pdu)) fail("an event must be a JSON object");
  // type, state_key, room_id, sender and event_id: strings, at most 255 bytes (code points if received), no NUL.
  if (typeof pdu.type !== "string") fail("type must be a string");
  if (pdu.state_key !== undefined && typeof pdu.state_key !== "string") fail("state_key must be a string");
  for (const key of ["sender", "room_id", "state_key", "type", "event_id"] as const) checkIdString(pdu, key, opts.received === true);
  // The historical user id grammar: rooms hold senders that today's grammar forbids.
  if (typeof pdu.sender !== "string" || !isValidUserId(pdu.sender)) fail("sender must be a user id");
  if (!isObject(pdu.content)) fail("content must be an object");
  if (!Number.isInteger(pdu.origin_server_ts)) fail("origin_server_ts must be an integer");
  if (!Number.isInteger(pdu.depth) || pdu.depth < 0 || pdu.depth > MAX_DEPTH) fail("depth must be an integer in [0, 2^53-1]");
  if (!isObject(pdu.hashes) || typeof pdu.hashes.sha256 !== "string") fail("hashes.sha256 must be a string");
  checkSignatures(pdu.signatures);
  if (pdu.unsigned !== undefined && !isObject(pdu.unsigned)) fail("unsigned must be an object");
  checkRoomId(pdu, rules);

  if (rules.eventIdFormat === "server-assigned") {
    if (typeof pdu.event_id !== "string" || !isDomainId("$", pdu.event_id)) fail("event_id must be $opaque:server in this room version");
  } else if (pdu.event_id !== undefined) {
    fail("event_id is not part of an event in this room version");
  }
  checkReferences(pdu, "prev_events", MAX_PREV_EVENTS, rules);
  checkReferences(pdu, "auth_events", MAX_AUTH_EVENTS, rules);
  if (pdu.type === "m.room.redaction" && !rules.redactsInContent && pdu.redacts !== undefined && typeof pdu.redacts !== "string") {
    fail("redacts must be an event id");
  }

  // The size limit, measured as the spec measures it (the whole event,
  // signatures included, as canonical JSON); for v6+ the same encoding
  // rejects floats and integers outside [-(2^53)+1, 2^53-1] anywhere.
  let canonical: string;
  try {
    canonical = canonicalForVersion(pdu, rules);
  } catch (err) {
    if (err instanceof CanonicalJsonError) fail(`not canonical JSON: ${err.message}`);
    throw err;
  }
  if (utf8Length(canonical) > MAX_EVENT_BYTES) throw new EventTooLargeError(`event is larger than ${MAX_EVENT_BYTES} bytes`);
}
