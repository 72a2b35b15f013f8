/**
 * The hashes that give an event its identity: the content hash (covers
 * everything, so tampering with non-essential keys shows), the reference
 * hash (covers the redacted event, so it survives redaction) and, from v3,
 * the event id derived from it. v12 derives the room id from the create
 * event's reference hash as well.
 */
import { encodeBase64, encodeBase64Url } from "../crypto/base64.js";
import { canonicalJson } from "../crypto/canonical-json.js";
import { sha256 } from "../crypto/hashes.js";
import { redactPdu } from "./redaction.js";
import type { PDU } from "./types.js";
import { EventFormatError } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

/** Canonical JSON the way this version hashes and signs: v1–v5 tolerate floats and huge integers. */
export function canonicalForVersion(value: unknown, rules: RoomVersionRules): string {
  return canonicalJson(value, { lenient: !rules.strictCanonicalJson });
}

export function computeContentHash(pdu: PDU, rules: RoomVersionRules): string {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = pdu;
  return encodeBase64(sha256(canonicalForVersion(rest, rules)));
}

export function checkContentHash(pdu: PDU, rules: RoomVersionRules): boolean {
  const claimed = pdu.hashes?.sha256;
  return typeof claimed === "string" && claimed.replace(/=+$/, "") === computeContentHash(pdu, rules);
}

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
  return "!" + encodeBase64Url(computeReferenceHash(pdu, rules));
}
