/**
 * The hashes that give an event its identity: the content hash (covers
 * everything, so tampering with non-essential keys shows), the reference
 * hash (covers the redacted event, so it survives redaction) and, from v3,
 * the event id derived from it. v12 derives the room id from the create
 * event's reference hash as well.
 */
import { decodeBase64, encodeBase64, encodeBase64Url } from "../crypto/base64.js";
import { canonicalJson } from "../crypto/canonical-json.js";
import { sha256 } from "../crypto/hashes.js";
import { redactPdu } from "./redaction.js";
import type { PDU } from "./types.js";
import { EventFormatError } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

/**
 * Canonical JSON the way this version hashes and signs. v1–v5 events may
 * legitimately hold floats and huge integers and must still hash; without
 * rules, hashing is lenient too (whether such numbers are allowed at all is
 * the format check's question, not the hash's).
 */
export function canonicalForVersion(value: unknown, rules?: RoomVersionRules): string {
  return canonicalJson(value, { lenient: rules === undefined || !rules.strictCanonicalJson });
}

function contentHashBytes(pdu: PDU, rules?: RoomVersionRules): Uint8Array {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = pdu;
  return sha256(canonicalForVersion(rest, rules));
}

/** Unpadded base64 sha256 of the event without unsigned, signatures and hashes. */
export function computeContentHash(pdu: PDU, rules?: RoomVersionRules): string {
  return encodeBase64(contentHashBytes(pdu, rules));
}

/** Whether hashes.sha256 matches; the claim is base64-decoded and compared as bytes, as the spec says. */
export function checkContentHash(pdu: PDU, rules?: RoomVersionRules): boolean {
  const claimed = pdu.hashes?.sha256;
  if (typeof claimed !== "string") return false;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(claimed);
  } catch {
    return false;
  }
  return Buffer.from(bytes).equals(contentHashBytes(pdu, rules));
}

/** sha256 of the redacted event without signatures and unsigned (redaction already drops unsigned). */
export function computeReferenceHash(pdu: PDU, rules: RoomVersionRules): Uint8Array {
  const { signatures: _s, unsigned: _u, ...rest } = redactPdu(pdu, rules);
  return sha256(canonicalForVersion(rest, rules));
}

export function computeEventId(pdu: PDU, rules: RoomVersionRules): string {
  switch (rules.eventIdFormat) {
    case "server-assigned":
      if (typeof pdu.event_id !== "string") throw new EventFormatError("event_id is required in this room version");
      return pdu.event_id;
    case "reference-hash":
      return "$" + encodeBase64(computeReferenceHash(pdu, rules));
    case "reference-hash-urlsafe":
      return "$" + encodeBase64Url(computeReferenceHash(pdu, rules));
  }
}

/** v12: a room is named after its create event, `!` + the URL-safe reference hash. */
export function roomIdForCreateEvent(pdu: PDU, rules: RoomVersionRules): string {
  if (!rules.roomIdFromCreateEvent) throw new EventFormatError(`room version ${rules.id} does not derive room ids`);
  if (pdu.type !== "m.room.create" || pdu.state_key !== "") throw new EventFormatError("only an m.room.create event names a room");
  return "!" + encodeBase64Url(computeReferenceHash(pdu, rules));
}
