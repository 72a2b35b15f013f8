/**
 * From a PDU to the RoomEvent the rules work on, signing a local event,
 * and checking a received event's signatures.
 */
import type { SigningKey } from "../crypto/keys.js";
import { signJson, verifySignedJson } from "../crypto/signing.js";
import { canonicalForVersion, computeContentHash, computeEventId, roomIdForCreateEvent } from "./event-id.js";
import { redactPdu } from "./redaction.js";
import { EventFormatError, type EventReference, type PDU, type RoomEvent } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

function refId(ref: EventReference): string {
  if (typeof ref === "string") return ref;
  if (Array.isArray(ref) && typeof ref[0] === "string") return ref[0];
  throw new EventFormatError("malformed event reference");
}

function roomIdOf(pdu: PDU, rules: RoomVersionRules): string {
  if (typeof pdu.room_id === "string") return pdu.room_id;
  if (rules.roomIdFromCreateEvent && pdu.type === "m.room.create" && pdu.state_key === "") {
    return roomIdForCreateEvent(pdu, rules);
  }
  throw new EventFormatError("room_id is missing");
}

function redactsOf(pdu: PDU, rules: RoomVersionRules): string | undefined {
  if (pdu.type !== "m.room.redaction") return undefined;
  const r = rules.redactsInContent ? pdu.content?.redacts : pdu.redacts;
  return typeof r === "string" ? r : undefined;
}

function build(pdu: PDU, rules: RoomVersionRules, eventId: string, roomId: string): RoomEvent {
  return Object.freeze({
    eventId,
    roomId,
    roomVersion: rules.id,
    type: pdu.type,
    stateKey: typeof pdu.state_key === "string" ? pdu.state_key : undefined,
    sender: pdu.sender,
    content: pdu.content ?? {},
    originServerTs: pdu.origin_server_ts,
    depth: pdu.depth,
    prevEventIds: (pdu.prev_events ?? []).map(refId),
    authEventIds: (pdu.auth_events ?? []).map(refId),
    redacts: redactsOf(pdu, rules),
    pdu,
  });
}

/** A RoomEvent from a PDU, computing its id (and a v12 create event's room id). */
export function toRoomEvent(pdu: PDU, rules: RoomVersionRules): RoomEvent {
  return build(pdu, rules, computeEventId(pdu, rules), roomIdOf(pdu, rules));
}

/** A RoomEvent from a PDU read back from storage, whose ids were computed when it was stored. */
export function toStoredRoomEvent(pdu: PDU, rules: RoomVersionRules, eventId: string, roomId: string): RoomEvent {
  return build(pdu, rules, eventId, roomId);
}

/**
 * Hash and sign an event built here (server-server API: signing events):
 * the content hash covers the full event, the signature covers the
 * redacted event plus that hash, so it survives redaction.
 */
export function signEvent(pdu: PDU, serverName: string, key: SigningKey, rules: RoomVersionRules): PDU {
  const { signatures: _s, unsigned, ...rest } = pdu;
  const hashed: PDU = { ...rest, hashes: { sha256: computeContentHash(pdu, rules) }, signatures: {} } as PDU;
  const lenient = { lenient: !rules.strictCanonicalJson };
  const signed = signJson(redactPdu(hashed, rules), serverName, key, lenient);
  const out: PDU = { ...hashed, signatures: { ...(pdu.signatures ?? {}), ...signed.signatures } };
  if (unsigned !== undefined) out.unsigned = unsigned;
  return out;
}

function serverOf(id: string): string | undefined {
  const i = id.indexOf(":");
  return i === -1 ? undefined : id.slice(i + 1);
}

/**
 * The servers whose signatures a received PDU must carry: the sender's;
 * in v1–v2 also the server that named the event; for a restricted join
 * (v8+), the server of the user who authorised it.
 */
export function requiredSigners(pdu: PDU, rules: RoomVersionRules): string[] {
  const servers = new Set<string>();
  const sender = serverOf(pdu.sender);
  if (sender) servers.add(sender);
  if (rules.eventIdFormat === "server-assigned" && typeof pdu.event_id === "string") {
    const origin = serverOf(pdu.event_id);
    if (origin) servers.add(origin);
  }
  if (rules.restrictedJoins && pdu.type === "m.room.member" && pdu.content?.membership === "join") {
    const via = pdu.content.join_authorised_via_users_server;
    const viaServer = typeof via === "string" ? serverOf(via) : undefined;
    if (viaServer) servers.add(viaServer);
  }
  return [...servers];
}

export interface PublicKeyInfo {
  readonly key: Uint8Array;
  /** For old keys and fetched keys: when the key stopped (or stops) being valid. */
  readonly validUntilTs?: number;
}

/**
 * Whether some key of `server` signs this event. Signatures cover the
 * redacted event. From v5, a key only counts for events sent while it was
 * valid (origin_server_ts at or before its valid_until_ts).
 */
export function verifyEventSignature(pdu: PDU, rules: RoomVersionRules, server: string, keys: ReadonlyMap<string, PublicKeyInfo>): boolean {
  const sigs = pdu.signatures?.[server];
  if (!sigs) return false;
  const redacted = redactPdu(pdu, rules);
  const lenient = { lenient: !rules.strictCanonicalJson };
  for (const keyId of Object.keys(sigs)) {
    if (!keyId.startsWith("ed25519:")) continue;
    const info = keys.get(keyId);
    if (!info) continue;
    if (rules.enforceKeyValidity && info.validUntilTs !== undefined && info.validUntilTs < pdu.origin_server_ts) continue;
    if (verifySignedJson(redacted, server, keyId, info.key, lenient)) return true;
  }
  return false;
}

export { canonicalForVersion };
