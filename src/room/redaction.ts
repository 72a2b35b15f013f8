/**
 * The redaction algorithm: what survives of an event when it is redacted,
 * and so what its reference hash and signatures cover. Each revision in
 * the version table (`rules.redaction`) keeps a little more than the last.
 */
import type { JsonObject, PDU } from "./types.js";
import type { RedactionAlgorithm, RoomVersionRules } from "./versions.js";

const TOP_LEVEL_V1 = [
  "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
  "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership",
];
// v11 dropped origin, membership and prev_state: nothing uses them any more.
const TOP_LEVEL_V11 = TOP_LEVEL_V1.filter((k) => !["origin", "membership", "prev_state"].includes(k));

const POWER_LEVEL_KEYS = ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"];

type ContentRule = readonly string[] | "all";

/** Content keys kept per event type, for each revision. */
const CONTENT_KEYS: Record<RedactionAlgorithm, Record<string, ContentRule>> = {
  v1: {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": POWER_LEVEL_KEYS,
    "m.room.aliases": ["aliases"],
    "m.room.history_visibility": ["history_visibility"],
  },
  v6: {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": POWER_LEVEL_KEYS,
    "m.room.history_visibility": ["history_visibility"],
  },
  v8: {
    "m.room.member": ["membership"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": POWER_LEVEL_KEYS,
    "m.room.history_visibility": ["history_visibility"],
  },
  v9: {
    "m.room.member": ["membership", "join_authorised_via_users_server"],
    "m.room.create": ["creator"],
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": POWER_LEVEL_KEYS,
    "m.room.history_visibility": ["history_visibility"],
  },
  v11: {
    "m.room.member": ["membership", "join_authorised_via_users_server"],
    "m.room.create": "all",
    "m.room.join_rules": ["join_rule", "allow"],
    "m.room.power_levels": [...POWER_LEVEL_KEYS, "invite"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.redaction": ["redacts"],
  },
};

export function redactContent(type: string, content: JsonObject, rules: RoomVersionRules): JsonObject {
  const keep = CONTENT_KEYS[rules.redaction][type];
  if (keep === undefined) return {};
  if (keep === "all") return { ...content };
  const out: JsonObject = {};
  for (const k of keep) if (Object.hasOwn(content, k)) out[k] = content[k];
  // v11: a member event also keeps third_party_invite.signed, which the
  // auth rules read to check a third-party invite was honoured.
  if (rules.redaction === "v11" && type === "m.room.member") {
    const tpi = content.third_party_invite;
    if (typeof tpi === "object" && tpi !== null && !Array.isArray(tpi) && Object.hasOwn(tpi, "signed")) {
      out.third_party_invite = { signed: tpi.signed };
    }
  }
  return out;
}

/**
 * The event as it stands redacted: only the essential keys, content
 * stripped by type. `unsigned` goes too; a client-facing copy adds its own
 * (redacted_because) afterwards.
 */
export function redactPdu(pdu: PDU, rules: RoomVersionRules): PDU {
  const keys = rules.redaction === "v11" ? TOP_LEVEL_V11 : TOP_LEVEL_V1;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(pdu, k)) out[k] = pdu[k];
  out.content = redactContent(pdu.type, pdu.content ?? {}, rules);
  return out as PDU;
}
