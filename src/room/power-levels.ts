/**
 * Power levels as the auth rules see them: who the creators are, what level
 * a user has, and what level an action needs, all read from a room state.
 *
 * Everything here is pure. Number parsing follows the room version: v1–v5
 * accept numeric strings and floats (truncated), v6–v9 numeric strings but
 * no floats (canonical JSON forbids them), v10+ integers only.
 */
import type { JsonObject, JsonValue, RoomEvent, StateLookup } from "./types.js";
import type { RoomVersionRules } from "./versions.js";

/** Defaults from the m.room.power_levels schema; they apply whether the key is
 * missing from the event or there is no event at all. The spec once said
 * state_default was 0 without an event; that text was removed as outdated. */
export const POWER_LEVEL_DEFAULTS = Object.freeze({
  ban: 50,
  kick: 50,
  redact: 50,
  invite: 0,
  events_default: 0,
  state_default: 50,
  users_default: 0,
});

export type LevelKey = keyof typeof POWER_LEVEL_DEFAULTS;

/** The keys whose alteration the power-levels change rule checks, in spec order. */
export const LEVEL_KEYS: readonly LevelKey[] = [
  "users_default", "events_default", "state_default", "ban", "redact", "kick", "invite",
];

/** The level a creator has when the room has no power-levels event (v1–v11). */
export const CREATOR_DEFAULT_LEVEL = 100;

/** `@room` notifications need this unless `notifications.room` says otherwise. */
export const ROOM_NOTIFICATION_DEFAULT = 50;

/**
 * The stringy-power-levels format: optional surrounding whitespace, an optional
 * single sign, then base-10 digits (leading zeroes allowed). No decimal point.
 */
const INTEGER_STRING = /^\s*[+-]?[0-9]+\s*$/;

/**
 * One power-level value as a number, or undefined if the version does not
 * accept it. Versions before v10 keep numeric strings for old rooms; floats
 * only reach us in v1–v5, where canonical JSON is not enforced, and are
 * truncated toward zero after exponent expansion (which JSON.parse already did).
 */
export function parseLevel(value: JsonValue | undefined, rules: RoomVersionRules): number | undefined {
  if (typeof value === "number") return parseNumberLevel(value, rules);
  if (typeof value === "string" && !rules.integerPowerLevels && INTEGER_STRING.test(value)) {
    return Number.parseInt(value.trim(), 10) + 0; // `+ 0` turns "-0" into 0
  }
  return undefined;
}

/** From v6 canonical JSON allows only integers in [-(2^53)+1, 2^53-1]; before
 * that any finite double is accepted and truncated. Infinity (what JSON.parse
 * makes of an out-of-range literal such as 1e400) is never a level. */
function parseNumberLevel(value: number, rules: RoomVersionRules): number | undefined {
  if (!Number.isFinite(value)) return undefined;
  if (rules.strictCanonicalJson) return Number.isSafeInteger(value) ? value : undefined;
  return Math.trunc(value) + 0;
}

/** Whether `value` is acceptable as a level in this version: in v10+ exactly
 * "is an integer", before that "an integer or a string that is an integer"
 * (plus floats in v1–v5). */
export function isValidLevel(value: JsonValue | undefined, rules: RoomVersionRules): boolean {
  return parseLevel(value, rules) !== undefined;
}

/** The parsed content of the room's power levels, with defaults filled in. */
export interface PowerLevels {
  /** Whether an m.room.power_levels event exists in the state. */
  readonly exists: boolean;
  readonly ban: number;
  readonly kick: number;
  readonly redact: number;
  readonly invite: number;
  readonly events_default: number;
  readonly state_default: number;
  readonly users_default: number;
  readonly events: ReadonlyMap<string, number>;
  readonly notifications: ReadonlyMap<string, number>;
  readonly users: ReadonlyMap<string, number>;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The entries of a nested level map that parse; the auth rules reject PL events
 * whose maps do not, so anything dropped here is from a state we cannot fix. */
export function parseLevelMap(value: JsonValue | undefined, rules: RoomVersionRules): Map<string, number> {
  const out = new Map<string, number>();
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    const n = parseLevel(v, rules);
    if (n !== undefined) out.set(k, n);
  }
  return out;
}

/**
 * Parses m.room.power_levels content. A top-level value the version does not
 * accept is treated as missing (so its default applies): v10+ rejects such
 * events in auth, and v1–v9 only validate `users`, so this is the only
 * reading that never throws on a state that was already accepted.
 */
export function parsePowerLevels(content: JsonObject | undefined, rules: RoomVersionRules): PowerLevels {
  const c = content ?? {};
  const level = (k: LevelKey): number => parseLevel(c[k], rules) ?? POWER_LEVEL_DEFAULTS[k];
  return {
    exists: content !== undefined,
    ban: level("ban"),
    kick: level("kick"),
    redact: level("redact"),
    invite: level("invite"),
    events_default: level("events_default"),
    state_default: level("state_default"),
    users_default: level("users_default"),
    events: parseLevelMap(c.events, rules),
    notifications: parseLevelMap(c.notifications, rules),
    users: parseLevelMap(c.users, rules),
  };
}

/** The power levels in force in `state` (defaults if there is no event). */
export function powerLevelsOf(state: StateLookup, rules: RoomVersionRules): PowerLevels {
  return parsePowerLevels(state("m.room.power_levels", "")?.content, rules);
}

/**
 * The user who created the room in the sense of the first-join rule:
 * content.creator before v11, the create event's sender from v11.
 */
export function originalCreator(createEvent: RoomEvent, rules: RoomVersionRules): string | undefined {
  if (rules.creatorIsSender) return createEvent.sender;
  const creator = createEvent.content.creator;
  return typeof creator === "string" ? creator : undefined;
}

/**
 * The room's creators. v1–v10: content.creator; v11: the create sender;
 * v12: the sender plus every string in content.additional_creators (the
 * create rules have already rejected a malformed list).
 */
export function creators(createEvent: RoomEvent, rules: RoomVersionRules): string[] {
  const first = originalCreator(createEvent, rules);
  const out = first === undefined ? [] : [first];
  if (!rules.privilegedCreators) return out;
  const extra = createEvent.content.additional_creators;
  if (Array.isArray(extra)) {
    for (const u of extra) if (typeof u === "string" && !out.includes(u)) out.push(u);
  }
  return out;
}

/**
 * A user's power level in `state`. v12 creators are above every number
 * (`Infinity`) whatever power_levels says. Otherwise the users map, then
 * users_default; with no power-levels event at all, the creator(s) have 100
 * (v1–v11) and everyone else 0.
 */
export function userPowerLevel(state: StateLookup, userId: string, rules: RoomVersionRules): number {
  const create = state("m.room.create", "");
  const roomCreators = create === undefined ? [] : creators(create, rules);
  if (rules.privilegedCreators && roomCreators.includes(userId)) return Infinity;
  const pl = powerLevelsOf(state, rules);
  return userLevelIn(pl, userId, roomCreators);
}

/** The level of a user given already-parsed power levels and the creators. */
export function userLevelIn(pl: PowerLevels, userId: string, roomCreators: readonly string[]): number {
  if (!pl.exists) return roomCreators.includes(userId) ? CREATOR_DEFAULT_LEVEL : 0;
  return pl.users.get(userId) ?? pl.users_default;
}

/**
 * The level needed to send an event of `type`: its entry in `events`, else
 * state_default for state events and events_default for message events.
 * (Membership events are governed by invite/kick/ban in the member rules;
 * this is the generic level every non-member event must also meet.)
 */
export function requiredPowerLevel(
  state: StateLookup,
  type: string,
  stateKey: string | undefined,
  rules: RoomVersionRules,
): number {
  return requiredLevelIn(powerLevelsOf(state, rules), type, stateKey);
}

export function requiredLevelIn(pl: PowerLevels, type: string, stateKey: string | undefined): number {
  return pl.events.get(type) ?? (stateKey !== undefined ? pl.state_default : pl.events_default);
}

/** The level needed for an @room notification (`notifications.room`, default 50). */
export function roomNotificationLevelIn(pl: PowerLevels): number {
  return pl.notifications.get("room") ?? ROOM_NOTIFICATION_DEFAULT;
}
