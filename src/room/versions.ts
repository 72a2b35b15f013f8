/**
 * The one table of rules that differ between room versions.
 *
 * Code elsewhere asks this table a question ("does this version allow
 * knocking?") and never compares version strings. Each flag names the
 * behaviour, and the comment says which version introduced it, so the
 * table reads as the history of the room model.
 */

/** How an event's id is derived. */
export type EventIdFormat =
  /** v1–v2: chosen by the origin server, `$opaque:server`, carried in the PDU. */
  | "server-assigned"
  /** v3: `$` + standard unpadded base64 of the reference hash. */
  | "reference-hash"
  /** v4+: `$` + URL-safe unpadded base64 of the reference hash. */
  | "reference-hash-urlsafe";

/** Which revision of the redaction algorithm applies. */
export type RedactionAlgorithm =
  /** v1–v5 */
  | "v1"
  /** v6–v7: m.room.aliases content no longer preserved. */
  | "v6"
  /** v8: join_rules keeps `allow`. */
  | "v8"
  /** v9–v10: member keeps `join_authorised_via_users_server`. */
  | "v9"
  /** v11+: create keeps all content, PL keeps `invite`, member keeps `signed`,
   * redaction keeps `redacts`, top-level origin/membership/prev_state dropped. */
  | "v11";

export type StateResolutionAlgorithm = "v1" | "v2" | "v2.1";

export interface RoomVersionRules {
  readonly id: string;
  readonly stable: boolean;
  readonly eventIdFormat: EventIdFormat;
  readonly stateResolution: StateResolutionAlgorithm;
  readonly redaction: RedactionAlgorithm;

  /** v1–v2: an m.room.redaction is allowed by auth only if the sender has the
   * redact level or shares a domain with the redacted event. From v3 that
   * check moved out of auth into "handling redactions". */
  readonly redactionCheckedInAuth: boolean;
  /** v1–v5: m.room.aliases has its own auth rule (state_key must be the
   * sender's domain). */
  readonly specialCaseAliasesAuth: boolean;
  /** v5+: a signature is only valid if the key was valid at origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v6+: events with floats or integers outside [-(2^53)+1, 2^53-1] are rejected. */
  readonly strictCanonicalJson: boolean;
  /** v6+: changing `notifications` keys in power levels needs the sender's level. */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7+: the `knock` join rule and membership. */
  readonly knocking: boolean;
  /** v8+: the `restricted` join rule and join_authorised_via_users_server. */
  readonly restrictedJoins: boolean;
  /** v10+: the `knock_restricted` join rule. */
  readonly knockRestricted: boolean;
  /** v10+: power level values must be integers, not numeric strings. */
  readonly integerPowerLevels: boolean;
  /** v11+: the creator is the create event's sender; content.creator is gone. */
  readonly creatorIsSender: boolean;
  /** v11+: m.room.redaction carries `redacts` inside content, not top level. */
  readonly redactsInContent: boolean;
  /** v12: the room id is `!` + the create event's reference hash (URL-safe);
   * the create event has no room_id and is never listed in auth_events. */
  readonly roomIdFromCreateEvent: boolean;
  /** v12: the create sender and content.additional_creators are "creators",
   * with infinite power that power_levels can neither grant nor remove. */
  readonly privilegedCreators: boolean;
}

type Flags = Omit<RoomVersionRules, "id" | "stable">;

const v1: Flags = {
  eventIdFormat: "server-assigned",
  stateResolution: "v1",
  redaction: "v1",
  redactionCheckedInAuth: true,
  specialCaseAliasesAuth: true,
  enforceKeyValidity: false,
  strictCanonicalJson: false,
  limitNotificationsPowerLevels: false,
  knocking: false,
  restrictedJoins: false,
  knockRestricted: false,
  integerPowerLevels: false,
  creatorIsSender: false,
  redactsInContent: false,
  roomIdFromCreateEvent: false,
  privilegedCreators: false,
};
const v2: Flags = { ...v1, stateResolution: "v2" };
const v3: Flags = { ...v2, eventIdFormat: "reference-hash", redactionCheckedInAuth: false };
const v4: Flags = { ...v3, eventIdFormat: "reference-hash-urlsafe" };
const v5: Flags = { ...v4, enforceKeyValidity: true };
const v6: Flags = {
  ...v5,
  redaction: "v6",
  specialCaseAliasesAuth: false,
  strictCanonicalJson: true,
  limitNotificationsPowerLevels: true,
};
const v7: Flags = { ...v6, knocking: true };
const v8: Flags = { ...v7, redaction: "v8", restrictedJoins: true };
const v9: Flags = { ...v8, redaction: "v9" };
const v10: Flags = { ...v9, knockRestricted: true, integerPowerLevels: true };
const v11: Flags = { ...v10, redaction: "v11", creatorIsSender: true, redactsInContent: true };
const v12: Flags = {
  ...v11,
  stateResolution: "v2.1",
  roomIdFromCreateEvent: true,
  privilegedCreators: true,
};

const table: Record<string, Flags> = {
  "1": v1, "2": v2, "3": v3, "4": v4, "5": v5, "6": v6,
  "7": v7, "8": v8, "9": v9, "10": v10, "11": v11, "12": v12,
};

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersionRules> = new Map(
  Object.entries(table).map(([id, flags]) => [id, Object.freeze({ id, stable: true, ...flags })]),
);

/** The version new rooms get unless configured otherwise (the spec's recommendation). */
export const DEFAULT_ROOM_VERSION = "12";

export function getRoomVersion(id: string): RoomVersionRules | undefined {
  return ROOM_VERSIONS.get(id);
}

export function isKnownRoomVersion(id: unknown): id is string {
  return typeof id === "string" && ROOM_VERSIONS.has(id);
}

/** The create event's default when content.room_version is absent. */
export const IMPLICIT_ROOM_VERSION = "1";
