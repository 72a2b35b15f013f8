/**
 * From a PDU to the RoomEvent the rules work on, signing a local event,
 * and checking a received event's signatures.
 */
import type { SigningKey } from "../crypto/keys.js";
import { signJson, verifySignedJson } from "../crypto/signing.js";
import { canonicalForVersion, computeContentHash, computeEventId, roomIdForCreateEvent } from "./event-id.js";
import { redactPdu } from "./redaction.js";
import { serverNameOf } from "./identifiers.js";
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
  const existing = pdu.signatures ?? {};
  // Other servers' signatures (a restricted join's authoriser, say) stay.
  const out: PDU = {
    ...hashed,
    signatures: { ...existing, [serverName]: { ...(existing[serverName] ?? {}), ...signed.signatures[serverName] } },
  };
  if (unsigned !== undefined) out.unsigned = unsigned;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The servers whose signatures a received PDU must carry (server-server
 * API: validating hashes and signatures): the sender's server, except on a
 * third-party invite, which the spec lets a different server send for the
 * sender (auth then checks its `signed` block instead); in v1–v2 also the
 * server named in event_id; and for a restricted join (v8+) the server of
 * the user who authorised it. The last is strictly an auth rule (v8 rule
 * 4.2, which also covers non-join memberships and is checked in auth.ts);
 * requiring it here drops an unauthorised join before it is even stored.
 */
export function requiredSigners(pdu: PDU, rules: RoomVersionRules): string[] {
  const servers = new Set<string>();
  const content = isObject(pdu.content) ? pdu.content : {};
  const isMember = pdu.type === "m.room.member";
  const thirdPartyInvite = isMember && content.membership === "invite" && content.third_party_invite !== undefined;
  if (!thirdPartyInvite) {
    const sender = serverNameOf(pdu.sender);
    if (sender) servers.add(sender);
  }
  if (rules.eventIdFormat === "server-assigned" && typeof pdu.event_id === "string") {
    const origin = serverNameOf(pdu.event_id);
    if (origin) servers.add(origin);
  }
  if (rules.restrictedJoins && isMember && content.membership === "join") {
    const via = content.join_authorised_via_users_server;
    const viaServer = typeof via === "string" ? serverNameOf(via) : undefined;
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
 * Whether `server` validly signed this event. Signatures cover the
 * redacted event, so a redacted copy verifies as well as the full one.
 * Keys we do not know, algorithms other than ed25519 and (from v5) keys
 * whose validUntilTs is before origin_server_ts are skipped; the caller
 * applies the spec's "lesser of valid_until_ts and 7 days ahead" when it
 * fills in validUntilTs. Of the keys left, at least one must sign and none
 * may fail ("if all signatures from known unexpired keys ... are valid").
 */
export function verifyEventSignature(pdu: PDU, rules: RoomVersionRules, server: string, keys: ReadonlyMap<string, PublicKeyInfo>): boolean {
  const sigs = pdu.signatures?.[server];
  if (!isObject(sigs)) return false;
  let redacted: PDU | undefined;
  const lenient = { lenient: !rules.strictCanonicalJson };
  let valid = 0;
  for (const keyId of Object.keys(sigs)) {
    if (!keyId.startsWith("ed25519:")) continue;
    const info = keys.get(keyId);
    if (!info) continue;
    if (rules.enforceKeyValidity && info.validUntilTs !== undefined && info.validUntilTs < pdu.origin_server_ts) continue;
    redacted ??= redactPdu(pdu, rules);
    if (!verifySignedJson(redacted, server, keyId, info.key, lenient)) return false;
    valid++;
  }
  return valid > 0;
}

export { canonicalForVersion };
