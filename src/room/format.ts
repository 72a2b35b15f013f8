/**
 * Event format checks: the shape every PDU must have in its room version
 * and the size limits (server-server API: PDUs; client-server API: size
 * limits). A failing event is rejected whole with the reason, before any
 * of it is stored.
 */
import { CanonicalJsonError } from "../crypto/canonical-json.js";
import { canonicalForVersion } from "./event-id.js";
import { EventFormatError, EventTooLargeError, type PDU } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

/** The whole event, canonical JSON with signatures, in bytes. */
export const MAX_EVENT_BYTES = 65_536;
/** sender, room_id, state_key, type and event_id, each in bytes. */
export const MAX_ID_BYTES = 255;
/** Depth is a signed 64-bit integer; canonical JSON narrows what we can hold to 2^53-1. */
const MAX_DEPTH = Number.MAX_SAFE_INTEGER;

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

function fail(reason: string): never {
  throw new EventFormatError(reason);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkIdString(pdu: PDU, key: "sender" | "room_id" | "state_key" | "type" | "event_id"): void {
  const v = pdu[key];
  if (v === undefined) return;
  if (typeof v !== "string") fail(`${key} must be a string`);
  if (utf8Length(v) > MAX_ID_BYTES) fail(`${key} is longer than ${MAX_ID_BYTES} bytes`);
  if (v.includes("\u0000")) fail(`${key} contains NUL`);
}

/** @localpart:server, with a non-empty localpart and server name (the historical grammar, which federation must accept). */
function isUserId(s: string): boolean {
  const colon = s.indexOf(":");
  return s.startsWith("@") && colon > 1 && colon < s.length - 1;
}

function checkReferences(pdu: PDU, key: "prev_events" | "auth_events", rules: RoomVersionRules): void {
  const refs = pdu[key];
  if (!Array.isArray(refs)) fail(`${key} must be an array`);
  for (const ref of refs) {
    if (rules.eventIdFormat === "server-assigned") {
      // v1–v2: [event_id, {"sha256": ...}]
      if (!Array.isArray(ref) || ref.length !== 2 || typeof ref[0] !== "string" || !isObject(ref[1])) {
        fail(`${key} entries must be [event_id, hashes] in this room version`);
      }
      if (!ref[0].startsWith("$")) fail(`${key} holds a malformed event id`);
    } else {
      if (typeof ref !== "string" || !ref.startsWith("$")) fail(`${key} entries must be event ids in this room version`);
      if (utf8Length(ref) > MAX_ID_BYTES) fail(`${key} holds an event id longer than ${MAX_ID_BYTES} bytes`);
    }
  }
}

export function checkEventFormat(pdu: PDU, rules: RoomVersionRules): void {
  if (!isObject(pdu)) fail("an event must be a JSON object");
  if (typeof pdu.type !== "string" || pdu.type.length === 0) fail("type must be a non-empty string");
  if (typeof pdu.sender !== "string" || !isUserId(pdu.sender)) fail("sender must be a user id");
  if (!isObject(pdu.content)) fail("content must be an object");
  if (!Number.isInteger(pdu.origin_server_ts)) fail("origin_server_ts must be an integer");
  if (!Number.isInteger(pdu.depth) || pdu.depth < 0 || pdu.depth > MAX_DEPTH) fail("depth must be a non-negative integer");
  if (!isObject(pdu.hashes) || typeof pdu.hashes.sha256 !== "string") fail("hashes.sha256 must be a string");
  if (!isObject(pdu.signatures)) fail("signatures must be an object");
  if (pdu.unsigned !== undefined && !isObject(pdu.unsigned)) fail("unsigned must be an object");
  if (pdu.state_key !== undefined && typeof pdu.state_key !== "string") fail("state_key must be a string");
  for (const key of ["sender", "room_id", "state_key", "type", "event_id"] as const) checkIdString(pdu, key);

  const isCreate = pdu.type === "m.room.create" && pdu.state_key === "";
  if (rules.roomIdFromCreateEvent && isCreate) {
    if (pdu.room_id !== undefined) fail("an m.room.create event has no room_id in this room version");
  } else if (typeof pdu.room_id !== "string" || !pdu.room_id.startsWith("!")) {
    fail("room_id must be a room id");
  }
  if (rules.eventIdFormat === "server-assigned") {
    if (typeof pdu.event_id !== "string" || !/^\$[^:]+:.+$/.test(pdu.event_id)) fail("event_id must be $opaque:server in this room version");
  } else if (pdu.event_id !== undefined) {
    fail("event_id is not part of an event in this room version");
  }
  checkReferences(pdu, "prev_events", rules);
  checkReferences(pdu, "auth_events", rules);
  if (pdu.type === "m.room.redaction" && !rules.redactsInContent && pdu.redacts !== undefined && typeof pdu.redacts !== "string") {
    fail("redacts must be an event id");
  }

  // The size limit, measured as the spec measures it; for v6+ this also
  // rejects floats and integers outside canonical JSON's range anywhere in the event.
  let canonical: string;
  try {
    canonical = canonicalForVersion(pdu, rules);
  } catch (err) {
    if (err instanceof CanonicalJsonError) fail(`not canonical JSON: ${err.message}`);
    throw err;
  }
  if (utf8Length(canonical) > MAX_EVENT_BYTES) throw new EventTooLargeError(`event is larger than ${MAX_EVENT_BYTES} bytes`);
}
