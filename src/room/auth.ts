/**
 * The authorisation rules of every room version (v1–v12), one small function
 * per rule, and the auth-events selection they rely on.
 *
 * The rules are numbered differently in different versions (v6 dropped the
 * aliases rule, v8 inserted a member sub-rule, v10 and v12 inserted
 * power-level sub-rules, v12 inserted the room-id rule), so the numbers in
 * the error messages are computed from the version's flags and match the
 * spec page of that version: "5.3.2: sender does not match state_key" in v12
 * is "4.3.2: …" in v8–v11 and "5.2.2: …" in v1–v5.
 *
 * Nothing here does I/O: the caller hands in the state the event is checked
 * against (its auth events, the state before it, or the current state).
 */
import { decodeBase64 } from "../crypto/base64.js";
import { verifySignedJson } from "../crypto/signing.js";
import { isValidUserId, serverNameOf } from "./identifiers.js";
import {
  LEVEL_KEYS,
  creators,
  isValidLevel,
  originalCreator,
  parseLevel,
  parseLevelMap,
  parsePowerLevels,
  requiredLevelIn,
  userLevelIn,
  type PowerLevels,
} from "./power-levels.js";
import { AuthError, stateKey, type JsonObject, type JsonValue, type RoomEvent, type StateLookup } from "./types.js";
import { isKnownRoomVersion, type RoomVersionRules } from "./versions.js";

const CREATE = "m.room.create";
const MEMBER = "m.room.member";
const POWER_LEVELS = "m.room.power_levels";
const JOIN_RULES = "m.room.join_rules";
const THIRD_PARTY_INVITE = "m.room.third_party_invite";

// ---------------------------------------------------------------------------
// Rule numbering

/** Where each top-level rule sits in this version's list. */
interface RuleNumbers {
  readonly create: number;
  /** v12 only: the room id must be the create event's id. */
  readonly roomId: number;
  readonly authEvents: number;
  readonly federate: number;
  /** v1–v5 only. */
  readonly aliases: number;
  readonly member: number;
  readonly joined: number;
  readonly thirdPartyInvite: number;
  readonly requiredLevel: number;
  readonly userStateKey: number;
  readonly powerLevels: number;
  /** v1–v2 only. */
  readonly redaction: number;
  /** Sub-rule positions inside the member rule. */
  readonly m: MemberNumbers;
  /** Sub-rule positions inside the power-levels rule. */
  readonly pl: PowerLevelNumbers;
}

interface MemberNumbers {
  readonly join: number;
  readonly invite: number;
  readonly leave: number;
  readonly ban: number;
  readonly knock: number;
  readonly unknown: number;
  /** Inside join: the restricted rule (v8+), public, and the final reject. */
  readonly joinRestricted: number;
  readonly joinPublic: number;
  readonly joinOtherwise: number;
}

interface PowerLevelNumbers {
  /** v10+ */
  readonly topLevelIntegers: number;
  /** v10+ */
  readonly mapIntegers: number;
  readonly users: number;
  /** v12 */
  readonly creatorsInUsers: number;
  readonly noPrevious: number;
  readonly topLevelChanges: number;
  readonly mapRemoved: number;
  readonly mapAdded: number;
  readonly usersRemoved: number;
  readonly usersAdded: number;
}

function ruleNumbers(rules: RoomVersionRules): RuleNumbers {
  const shift = rules.roomIdFromCreateEvent ? 1 : 0;
  const member = 4 + shift + (rules.specialCaseAliasesAuth ? 1 : 0);
  return {
    create: 1,
    roomId: 2,
    authEvents: 2 + shift,
    federate: 3 + shift,
    aliases: 4,
    member,
    joined: member + 1,
    thirdPartyInvite: member + 2,
    requiredLevel: member + 3,
    userStateKey: member + 4,
    powerLevels: member + 5,
    redaction: member + 6,
    m: memberNumbers(rules),
    pl: powerLevelNumbers(rules),
  };
}

function memberNumbers(rules: RoomVersionRules): MemberNumbers {
  // v8 inserted "join_authorised_via_users_server is validly signed" as x.2.
  const join = rules.restrictedJoins ? 3 : 2;
  const joinPublic = rules.restrictedJoins ? 6 : 5;
  return {
    join,
    invite: join + 1,
    leave: join + 2,
    ban: join + 3,
    knock: join + 4,
    unknown: join + (rules.knocking ? 5 : 4),
    joinRestricted: 5,
    joinPublic,
    joinOtherwise: joinPublic + 1,
  };
}

function powerLevelNumbers(rules: RoomVersionRules): PowerLevelNumbers {
  const typed = rules.integerPowerLevels ? 2 : 0;
  const o = typed + (rules.privilegedCreators ? 1 : 0);
  return {
    topLevelIntegers: 1,
    mapIntegers: 2,
    users: 1 + typed,
    creatorsInUsers: 4,
    noPrevious: 2 + o,
    topLevelChanges: 3 + o,
    mapRemoved: 4 + o,
    mapAdded: 5 + o,
    usersRemoved: 6 + o,
    usersAdded: 7 + o,
  };
}

function reject(rule: string | number, why: string): never {
  throw new AuthError(`${rule}: ${why}`);
}

// ---------------------------------------------------------------------------
// Small readers

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Both ids have a server part and they are equal. An id without one never matches. */
function sameServer(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const sa = serverNameOf(a);
  return sa !== undefined && sa === serverNameOf(b);
}

/** The v12 room id of a room whose create event has this id: same hash, `!` sigil. */
function roomIdForCreate(createEventId: string): string {
  return "!" + createEventId.slice(1);
}

/** Everything a rule needs to know about the state, read once. */
interface Ctx {
  readonly event: RoomEvent;
  readonly state: StateLookup;
  readonly rules: RoomVersionRules;
  readonly n: RuleNumbers;
  readonly create: RoomEvent;
  readonly creators: readonly string[];
  readonly pl: PowerLevels;
}

function membershipOf(c: Ctx, userId: string): string | undefined {
  const m = c.state(MEMBER, userId)?.content.membership;
  return typeof m === "string" ? m : undefined;
}

function levelOf(c: Ctx, userId: string): number {
  if (c.rules.privilegedCreators && c.creators.includes(userId)) return Infinity;
  return userLevelIn(c.pl, userId, c.creators);
}

/**
 * The room's join rule. The spec does not say what applies when there is no
 * m.room.join_rules event (or it lacks join_rule); Synapse, and so most of the
 * federation, treats that as "invite", and state resolution must agree with it.
 */
function joinRuleOf(c: Ctx): string | undefined {
  const content = c.state(JOIN_RULES, "")?.content;
  if (content === undefined || !("join_rule" in content)) return "invite";
  const r = content.join_rule;
  return typeof r === "string" ? r : undefined;
}

// ---------------------------------------------------------------------------
// Auth events selection

/**
 * The (type, state_key) pairs an event of this shape may cite as auth events
 * ("Auth events selection" in the server-server API), without duplicates.
 * Each pair is "if any": the event need not cite all of them.
 */
export function authEventTypes(
  type: string,
  stateKey: string | undefined,
  sender: string,
  content: JsonObject,
  rules: RoomVersionRules,
): Array<[type: string, stateKey: string]> {
  if (type === CREATE) return [];
  const out: Array<[string, string]> = [];
  const add = (t: string, k: string): void => {
    if (!out.some(([ot, ok]) => ot === t && ok === k)) out.push([t, k]);
  };
  // v12 rooms name their create event through the room id instead.
  if (!rules.roomIdFromCreateEvent) add(CREATE, "");
  add(POWER_LEVELS, "");
  add(MEMBER, sender);
  if (type === MEMBER && stateKey !== undefined) {
    const membership = content.membership;
    add(MEMBER, stateKey);
    if (membership === "join" || membership === "invite" || membership === "knock") add(JOIN_RULES, "");
    const token = thirdPartyInviteToken(content);
    if (membership === "invite" && token !== undefined) add(THIRD_PARTY_INVITE, token);
    const via = content.join_authorised_via_users_server;
    if (membership === "join" && rules.restrictedJoins && typeof via === "string") add(MEMBER, via);
  }
  return out;
}

function thirdPartyInviteToken(content: JsonObject): string | undefined {
  const tpi = content.third_party_invite;
  const signed = isObject(tpi) ? tpi.signed : undefined;
  const token = isObject(signed) ? signed.token : undefined;
  return typeof token === "string" ? token : undefined;
}

// ---------------------------------------------------------------------------
// The auth-events rule (rule 2; rule 3 in v12) and the v12 room-id rule

export interface AuthEventsOptions {
  /**
   * Whether an auth event was itself rejected. Rule 2.3 rejects the event in
   * that case (rather than ignoring the rejected auth event), so the caller
   * must pass every auth event, rejected or not, and say which are rejected.
   * Omit it only when all of `authEvents` are known to be accepted.
   */
  readonly isRejected?: (eventId: string) => boolean;
  /**
   * v12: the room's m.room.create event (the one whose id is the room id),
   * which is never listed in auth_events. Ignored in v1–v11.
   */
  readonly createEvent?: RoomEvent;
}

/**
 * Checks the event's auth events against the auth-events rule and returns the
 * state they form, for `checkAuth`. `authEvents` must be exactly the events
 * listed in `event.authEventIds`: one the caller could not fetch is a reason
 * to reject (the event cannot be authorised), reported as an AuthError.
 * In v12 the returned lookup also answers m.room.create with
 * `options.createEvent`.
 */
export function checkAuthEvents(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  rules: RoomVersionRules,
  options: AuthEventsOptions = {},
): StateLookup {
  // Rule 1 decides a create event alone; its auth_events play no part.
  if (event.type === CREATE) return () => undefined;
  const n = ruleNumbers(rules);
  const create = rules.roomIdFromCreateEvent ? checkRoomIdCreate(event, options, n) : undefined;
  const byPair = indexAuthEvents(event, authEvents, n.authEvents);
  checkAuthEventPairsSelected(event, byPair, rules, n.authEvents);
  checkAuthEventsNotRejected(byPair, options.isRejected, n.authEvents);
  if (!rules.roomIdFromCreateEvent && !byPair.has(stateKey(CREATE, ""))) {
    reject(`${n.authEvents}.4`, "there is no m.room.create event among the auth events");
  }
  checkAuthEventsSameRoom(event, byPair, n.authEvents);
  if (create !== undefined) byPair.set(stateKey(CREATE, ""), create);
  return (type, key) => byPair.get(stateKey(type, key));
}

/** v12 rule 2, for the auth-events path: the room id names an accepted create event. */
function checkRoomIdCreate(event: RoomEvent, options: AuthEventsOptions, n: RuleNumbers): RoomEvent {
  const create = options.createEvent;
  if (create === undefined || create.type !== CREATE || create.stateKey !== "") {
    reject(n.roomId, "the room's m.room.create event was not supplied");
  }
  if (options.isRejected?.(create.eventId) === true) {
    reject(n.roomId, `room_id names the rejected m.room.create event ${create.eventId}`);
  }
  if (event.roomId !== roomIdForCreate(create.eventId)) {
    reject(n.roomId, `room_id ${event.roomId} is not the id of m.room.create ${create.eventId}`);
  }
  return create;
}

/** Rule x.1 (and completeness): one event per listed id, one per (type, state_key). */
function indexAuthEvents(event: RoomEvent, authEvents: readonly RoomEvent[], A: number): Map<string, RoomEvent> {
  const byId = new Map(authEvents.map((e) => [e.eventId, e]));
  const listed = new Set(event.authEventIds);
  if (listed.size !== event.authEventIds.length) reject(`${A}.1`, "auth_events lists the same event twice");
  for (const e of authEvents) {
    if (!listed.has(e.eventId)) reject(A, `${e.eventId} was supplied but is not in auth_events`);
  }
  const byPair = new Map<string, RoomEvent>();
  for (const id of event.authEventIds) {
    const e = byId.get(id);
    if (e === undefined) reject(A, `auth event ${id} is not available`);
    if (e.stateKey === undefined) reject(`${A}.2`, `auth event ${id} is not a state event`);
    const k = stateKey(e.type, e.stateKey);
    if (byPair.has(k)) reject(`${A}.1`, `duplicate auth events for (${e.type}, ${JSON.stringify(e.stateKey)})`);
    byPair.set(k, e);
  }
  return byPair;
}

/** Rule x.2: every auth event is of a kind the selection algorithm picks for this event. */
function checkAuthEventPairsSelected(
  event: RoomEvent,
  byPair: ReadonlyMap<string, RoomEvent>,
  rules: RoomVersionRules,
  A: number,
): void {
  const allowed = new Set(
    authEventTypes(event.type, event.stateKey, event.sender, event.content, rules).map(([t, k]) => stateKey(t, k)),
  );
  for (const [k, e] of byPair) {
    if (allowed.has(k)) continue;
    if (e.type === CREATE) reject(`${A}.2`, "m.room.create must not be selected as an auth event in this room version");
    reject(`${A}.2`, `auth event (${e.type}, ${JSON.stringify(e.stateKey)}) is not one the selection algorithm allows`);
  }
}

/** Rule x.3 */
function checkAuthEventsNotRejected(
  byPair: ReadonlyMap<string, RoomEvent>,
  isRejected: ((id: string) => boolean) | undefined,
  A: number,
): void {
  if (isRejected === undefined) return;
  for (const e of byPair.values()) {
    if (isRejected(e.eventId)) reject(`${A}.3`, `auth event ${e.eventId} was itself rejected`);
  }
}

/** Rule x.5 */
function checkAuthEventsSameRoom(event: RoomEvent, byPair: ReadonlyMap<string, RoomEvent>, A: number): void {
  for (const e of byPair.values()) {
    if (e.roomId !== event.roomId) reject(`${A}.5`, `auth event ${e.eventId} is in room ${e.roomId}`);
  }
}

// ---------------------------------------------------------------------------
// checkAuth

/**
 * Applies the authorisation rules to `event` against `state` and throws an
 * AuthError naming the failing rule, or returns if the event is allowed.
 *
 * `state` is whatever the caller authorises against: the lookup from
 * `checkAuthEvents`, the state before the event, or the current state.
 * The auth-events rule itself is `checkAuthEvents`'s job; here only its
 * "there is a create event" part is repeated, because every later rule needs
 * it. In v12 the lookup must still answer m.room.create (with the create
 * event whose id is the room id, and which the caller knows is accepted).
 */
export function checkAuth(event: RoomEvent, state: StateLookup, rules: RoomVersionRules): void {
  const n = ruleNumbers(rules);
  if (event.type === CREATE) return checkCreate(event, rules, n);

  const create = state(CREATE, "");
  if (create === undefined) {
    if (rules.roomIdFromCreateEvent) reject(n.roomId, "the room's m.room.create event is unknown");
    reject(`${n.authEvents}.4`, "there is no m.room.create event in the state");
  }
  if (rules.roomIdFromCreateEvent && event.roomId !== roomIdForCreate(create.eventId)) {
    reject(n.roomId, `room_id ${event.roomId} is not the id of m.room.create ${create.eventId}`);
  }
  const c: Ctx = {
    event,
    state,
    rules,
    n,
    create,
    creators: creators(create, rules),
    pl: parsePowerLevels(state(POWER_LEVELS, "")?.content, rules),
  };

  checkFederate(c);
  if (rules.specialCaseAliasesAuth && event.type === "m.room.aliases") return checkAliases(c);
  if (event.type === MEMBER) return checkMember(c);
  if (membershipOf(c, event.sender) !== "join") reject(n.joined, "sender is not joined to the room");
  if (event.type === THIRD_PARTY_INVITE) return checkThirdPartyInviteEvent(c);
  checkRequiredLevel(c);
  checkUserStateKey(c);
  if (event.type === POWER_LEVELS) return checkPowerLevels(c);
  if (rules.redactionCheckedInAuth && event.type === "m.room.redaction") return checkRedaction(c);
  // Otherwise, allow.
}

// --- Rule 1: m.room.create -------------------------------------------------

function checkCreate(event: RoomEvent, rules: RoomVersionRules, n: RuleNumbers): void {
  const R = n.create;
  if (event.prevEventIds.length > 0) reject(`${R}.1`, "m.room.create has prev_events");
  if (rules.roomIdFromCreateEvent) {
    // The room id is derived from this event's id, so it cannot be inside it.
    if (event.pdu.room_id !== undefined) reject(`${R}.2`, "m.room.create has a room_id");
  } else if (!sameServer(event.roomId, event.sender)) {
    reject(`${R}.2`, "room_id's domain does not match the sender's");
  }
  const version = event.content.room_version;
  if (version !== undefined && !isKnownRoomVersion(version)) {
    reject(`${R}.3`, `unrecognised room_version ${JSON.stringify(version)}`);
  }
  if (!rules.creatorIsSender && !Object.hasOwn(event.content, "creator")) {
    reject(`${R}.4`, "content has no creator");
  }
  if (rules.privilegedCreators) checkAdditionalCreators(event.content.additional_creators, R);
}

/** v12 rule 1.4: additional_creators, if present, is an array of valid user ids. */
function checkAdditionalCreators(value: JsonValue | undefined, R: number): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((u) => typeof u === "string" && isValidUserId(u))) {
    reject(`${R}.4`, "additional_creators is not an array of valid user ids");
  }
}

// --- m.federate, aliases -----------------------------------------------------

function checkFederate(c: Ctx): void {
  if (c.create.content["m.federate"] === false && !sameServer(c.event.sender, c.create.sender)) {
    reject(c.n.federate, "the room is not federated and the sender is on another server");
  }
}

/** v1–v5 rule 4: a server may set its own aliases, member or not. */
function checkAliases(c: Ctx): void {
  const R = c.n.aliases;
  const key = c.event.stateKey;
  if (key === undefined) reject(`${R}.1`, "m.room.aliases has no state_key");
  if (serverNameOf(c.event.sender) !== key) reject(`${R}.2`, "sender's domain does not match state_key");
}

// --- m.room.member -----------------------------------------------------------

function checkMember(c: Ctx): void {
  const R = c.n.member;
  const m = c.n.m;
  const { event } = c;
  if (event.stateKey === undefined || event.content.membership === undefined) {
    reject(`${R}.1`, "m.room.member needs a state_key and content.membership");
  }
  // v8+ x.2 ("validly signed by the server of join_authorised_via_users_server")
  // is a signature check, done with the other signature checks when the PDU is
  // received; by the time the rules run the signature has already been verified.
  switch (event.content.membership) {
    case "join":
      return checkJoin(c, `${R}.${m.join}`, event.stateKey);
    case "invite":
      return checkInvite(c, `${R}.${m.invite}`, event.stateKey);
    case "leave":
      return checkLeave(c, `${R}.${m.leave}`, event.stateKey);
    case "ban":
      return checkBan(c, `${R}.${m.ban}`, event.stateKey);
    case "knock":
      if (c.rules.knocking) return checkKnock(c, `${R}.${m.knock}`, event.stateKey);
      break;
  }
  reject(`${R}.${m.unknown}`, `unknown membership ${JSON.stringify(event.content.membership)}`);
}

/** The creator's own join straight after the create event. */
function isCreatorsFirstJoin(c: Ctx, target: string): boolean {
  const prev = c.event.prevEventIds;
  return prev.length === 1 && prev[0] === c.create.eventId && target === originalCreator(c.create, c.rules);
}

function checkJoin(c: Ctx, J: string, target: string): void {
  const { rules } = c;
  const m = c.n.m;
  if (isCreatorsFirstJoin(c, target)) return;
  if (c.event.sender !== target) reject(`${J}.2`, "sender does not match state_key");
  const current = membershipOf(c, target);
  if (current === "ban") reject(`${J}.3`, "sender is banned");
  const joinRule = joinRuleOf(c);
  const alreadyInvitedOrJoined = current === "invite" || current === "join";
  if (joinRule === "invite" || (rules.knocking && joinRule === "knock")) {
    if (alreadyInvitedOrJoined) return;
    reject(`${J}.${m.joinOtherwise}`, `join rule is ${joinRule} and the sender is not invited`);
  }
  if (isRestrictedRule(joinRule, rules)) {
    if (alreadyInvitedOrJoined) return;
    return checkJoinAuthorisedVia(c, `${J}.${m.joinRestricted}.2`);
  }
  if (joinRule === "public") return;
  reject(`${J}.${m.joinOtherwise}`, `join rule ${joinRule === undefined ? "(none)" : JSON.stringify(joinRule)} does not allow joining`);
}

function isRestrictedRule(joinRule: string | undefined, rules: RoomVersionRules): boolean {
  return (
    (rules.restrictedJoins && joinRule === "restricted") ||
    (rules.knockRestricted && joinRule === "knock_restricted")
  );
}

/** Restricted joins: the authorising user must be joined and able to invite. */
function checkJoinAuthorisedVia(c: Ctx, rule: string): void {
  const via = c.event.content.join_authorised_via_users_server;
  if (typeof via !== "string") reject(rule, "restricted join without join_authorised_via_users_server");
  if (membershipOf(c, via) !== "join") reject(rule, `${via} is not joined to the room`);
  if (levelOf(c, via) < c.pl.invite) reject(rule, `${via} may not invite users`);
}

function checkInvite(c: Ctx, I: string, target: string): void {
  const { event } = c;
  if (Object.hasOwn(event.content, "third_party_invite")) return checkThirdPartyInvite(c, `${I}.1`, target);
  if (membershipOf(c, event.sender) !== "join") reject(`${I}.2`, "sender is not joined to the room");
  const t = membershipOf(c, target);
  if (t === "join" || t === "ban") reject(`${I}.3`, `target user is already ${t === "join" ? "joined" : "banned"}`);
  if (levelOf(c, event.sender) >= c.pl.invite) return;
  reject(`${I}.5`, "sender's power level is below the invite level");
}

/**
 * An invite that redeems an m.room.third_party_invite: the identity server's
 * `signed` block must name the target and the token, and be signed by one of
 * the keys the inviter published in the m.room.third_party_invite event.
 */
function checkThirdPartyInvite(c: Ctx, T: string, target: string): void {
  if (membershipOf(c, target) === "ban") reject(`${T}.1`, "target user is banned");
  const tpi = c.event.content.third_party_invite;
  const signed = isObject(tpi) ? tpi.signed : undefined;
  if (!isObject(signed)) reject(`${T}.2`, "third_party_invite has no signed block");
  const { mxid, token } = signed;
  if (typeof mxid !== "string" || typeof token !== "string") reject(`${T}.3`, "signed needs mxid and token");
  if (mxid !== target) reject(`${T}.4`, "signed.mxid does not match state_key");
  const invite = c.state(THIRD_PARTY_INVITE, token);
  if (invite === undefined) reject(`${T}.5`, "no m.room.third_party_invite for this token");
  if (invite.sender !== c.event.sender) reject(`${T}.6`, "sender did not send the m.room.third_party_invite");
  if (isSignedByAnyKey(signed, publicKeysOf(invite.content))) return;
  reject(`${T}.8`, "signed is not signed by any of the invite's public keys");
}

/** `public_key` and every `public_keys[].public_key`, decoded; undecodable ones are skipped. */
function publicKeysOf(content: JsonObject): Uint8Array[] {
  const encoded: string[] = [];
  if (typeof content.public_key === "string") encoded.push(content.public_key);
  if (Array.isArray(content.public_keys)) {
    for (const k of content.public_keys) if (isObject(k) && typeof k.public_key === "string") encoded.push(k.public_key);
  }
  const keys: Uint8Array[] = [];
  for (const s of encoded) {
    const key = decodeKey(s);
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

/** Keys may use the standard or the URL-safe alphabet, and may arrive padded. */
function decodeKey(s: string): Uint8Array | undefined {
  try {
    const key = decodeBase64(s.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
    return key.length === 32 ? key : undefined;
  } catch {
    return undefined;
  }
}

function isSignedByAnyKey(signed: JsonObject, keys: readonly Uint8Array[]): boolean {
  const signatures = signed.signatures;
  if (!isObject(signatures)) return false;
  for (const [entity, sigs] of Object.entries(signatures)) {
    if (!isObject(sigs)) continue;
    for (const keyId of Object.keys(sigs)) {
      if (!keyId.startsWith("ed25519:")) continue;
      for (const key of keys) if (verifies(signed, entity, keyId, key)) return true;
    }
  }
  return false;
}

function verifies(signed: JsonObject, entity: string, keyId: string, key: Uint8Array): boolean {
  try {
    return verifySignedJson(signed, entity, keyId, key);
  } catch {
    return false;
  }
}

function checkLeave(c: Ctx, L: string, target: string): void {
  const { sender } = c.event;
  if (sender === target) {
    const current = membershipOf(c, target);
    if (current === "invite" || current === "join" || (c.rules.knocking && current === "knock")) return;
    reject(`${L}.1`, `cannot leave with membership ${current ?? "(none)"}`);
  }
  if (membershipOf(c, sender) !== "join") reject(`${L}.2`, "sender is not joined to the room");
  const senderLevel = levelOf(c, sender);
  if (membershipOf(c, target) === "ban" && senderLevel < c.pl.ban) {
    reject(`${L}.3`, "unbanning needs the ban level");
  }
  if (senderLevel >= c.pl.kick && levelOf(c, target) < senderLevel) return;
  reject(`${L}.5`, "sender may not kick the target user");
}

function checkBan(c: Ctx, B: string, target: string): void {
  const { sender } = c.event;
  if (membershipOf(c, sender) !== "join") reject(`${B}.1`, "sender is not joined to the room");
  const senderLevel = levelOf(c, sender);
  if (senderLevel >= c.pl.ban && levelOf(c, target) < senderLevel) return;
  reject(`${B}.3`, "sender may not ban the target user");
}

/** v7+ */
function checkKnock(c: Ctx, K: string, target: string): void {
  const joinRule = joinRuleOf(c);
  const knockable = joinRule === "knock" || (c.rules.knockRestricted && joinRule === "knock_restricted");
  if (!knockable) reject(`${K}.1`, `join rule ${joinRule ?? "(none)"} does not allow knocking`);
  if (c.event.sender !== target) reject(`${K}.2`, "sender does not match state_key");
  const current = membershipOf(c, target);
  if (current !== "ban" && current !== "invite" && current !== "join") return;
  reject(`${K}.4`, `cannot knock with membership ${current}`);
}

// --- Non-member events -------------------------------------------------------

function checkThirdPartyInviteEvent(c: Ctx): void {
  if (levelOf(c, c.event.sender) >= c.pl.invite) return;
  reject(`${c.n.thirdPartyInvite}.1`, "sender's power level is below the invite level");
}

function checkRequiredLevel(c: Ctx): void {
  const { event } = c;
  const required = requiredLevelIn(c.pl, event.type, event.stateKey);
  if (required > levelOf(c, event.sender)) {
    reject(c.n.requiredLevel, `${event.type} needs power level ${required}`);
  }
}

/** State keyed by a user id belongs to that user. */
function checkUserStateKey(c: Ctx): void {
  const key = c.event.stateKey;
  if (key !== undefined && key.startsWith("@") && key !== c.event.sender) {
    reject(c.n.userStateKey, "state_key is another user's id");
  }
}

/** v1–v2: the redact level or the same server as the redacted event's id. */
function checkRedaction(c: Ctx): void {
  const { event } = c;
  if (levelOf(c, event.sender) >= c.pl.redact) return;
  if (sameServer(event.redacts, event.eventId)) return;
  reject(`${c.n.redaction}.3`, "sender is below the redact level and the redacted event is from another server");
}

// --- m.room.power_levels ------------------------------------------------------

function checkPowerLevels(c: Ctx): void {
  const P = c.n.powerLevels;
  const content = c.event.content;
  if (c.rules.integerPowerLevels) checkPowerLevelTypes(content, c.rules, P);
  if (!c.rules.strictCanonicalJson) checkPowerLevelsFinite(content, P);
  checkPowerLevelUsers(content, c.rules, `${P}.${c.n.pl.users}`);
  if (c.rules.privilegedCreators) checkCreatorsNotInUsers(c, `${P}.${c.n.pl.creatorsInUsers}`);
  const previous = c.state(POWER_LEVELS, "");
  if (previous === undefined) return;
  checkPowerLevelChanges(c, previous.content, levelOf(c, c.event.sender));
}

/** v10+ x.1 and x.2: no strings, no non-integers, anywhere. */
function checkPowerLevelTypes(content: JsonObject, rules: RoomVersionRules, P: number): void {
  for (const k of LEVEL_KEYS) {
    if (content[k] !== undefined && !isValidLevel(content[k], rules)) reject(`${P}.1`, `${k} is not an integer`);
  }
  for (const k of ["events", "notifications"]) {
    const map = content[k];
    if (map === undefined) continue;
    if (!isObject(map) || !Object.values(map).every((v) => isValidLevel(v, rules))) {
      reject(`${P}.2`, `${k} is not an object of integers`);
    }
  }
}

/**
 * v1–v5 (floaty power levels): a value outside the range of a double, which
 * JSON.parse turns into ±Infinity, rejects the event. Later versions never
 * get here with one: canonical JSON is enforced on receipt.
 */
function checkPowerLevelsFinite(content: JsonObject, P: number): void {
  const values: Array<JsonValue | undefined> = LEVEL_KEYS.map((k) => content[k]);
  for (const k of ["events", "notifications", "users"]) {
    const map = content[k];
    if (isObject(map)) values.push(...Object.values(map));
  }
  if (values.some((v) => typeof v === "number" && !Number.isFinite(v))) {
    reject(P, "a power level is outside the range of a double");
  }
}

/**
 * `users` maps valid user ids to levels. A missing `users` is fine (it means
 * "no one listed"); anything else must be an object.
 */
function checkPowerLevelUsers(content: JsonObject, rules: RoomVersionRules, rule: string): void {
  const users = content.users;
  if (users === undefined) return;
  if (!isObject(users)) reject(rule, "users is not an object");
  for (const [userId, level] of Object.entries(users)) {
    if (!isValidUserId(userId)) reject(rule, `users has an invalid user id ${JSON.stringify(userId)}`);
    if (!isValidLevel(level, rules)) reject(rule, `users[${userId}] is not an integer`);
  }
}

/** v12: creators' power is not the power-levels event's to give. */
function checkCreatorsNotInUsers(c: Ctx, rule: string): void {
  const users = c.event.content.users;
  if (!isObject(users)) return;
  for (const creator of c.creators) {
    if (Object.hasOwn(users, creator)) reject(rule, `users lists the room creator ${creator}`);
  }
}

/**
 * A sender may only move levels that are (and will be) within their own
 * power, and may not touch users at or above their own level except themself.
 */
function checkPowerLevelChanges(c: Ctx, old: JsonObject, senderLevel: number): void {
  const { rules } = c;
  const P = c.n.powerLevels;
  const nums = c.n.pl;
  const next = c.event.content;

  for (const k of LEVEL_KEYS) {
    const before = parseLevel(old[k], rules);
    const after = parseLevel(next[k], rules);
    if (before === after) continue;
    if (before !== undefined && before > senderLevel) reject(`${P}.${nums.topLevelChanges}.1`, `current ${k} is above the sender's level`);
    if (after !== undefined && after > senderLevel) reject(`${P}.${nums.topLevelChanges}.2`, `new ${k} is above the sender's level`);
  }

  // v6 added notifications to the events rule.
  const maps = rules.limitNotificationsPowerLevels ? ["events", "notifications"] : ["events"];
  const diffs = maps.map((k) => [k, changedEntries(old[k], next[k], rules)] as const);
  for (const [k, changes] of diffs) {
    for (const [key, before] of changes) {
      if (before !== undefined && before > senderLevel) {
        reject(`${P}.${nums.mapRemoved}.1`, `current ${k}[${key}] is above the sender's level`);
      }
    }
  }
  for (const [k, changes] of diffs) {
    for (const [key, , after] of changes) {
      if (after !== undefined && after > senderLevel) {
        reject(`${P}.${nums.mapAdded}.1`, `new ${k}[${key}] is above the sender's level`);
      }
    }
  }

  const users = changedEntries(old.users, next.users, rules);
  for (const [userId, before] of users) {
    if (userId !== c.event.sender && before !== undefined && before >= senderLevel) {
      reject(`${P}.${nums.usersRemoved}.1`, `cannot change ${userId}, whose level is not below the sender's`);
    }
  }
  for (const [userId, , after] of users) {
    if (after !== undefined && after > senderLevel) {
      reject(`${P}.${nums.usersAdded}.1`, `cannot raise ${userId} above the sender's level`);
    }
  }
}

/** [key, before, after] for every key added, changed or removed between two level maps. */
function changedEntries(
  before: JsonValue | undefined,
  after: JsonValue | undefined,
  rules: RoomVersionRules,
): Array<[string, number | undefined, number | undefined]> {
  const a = parseLevelMap(before, rules);
  const b = parseLevelMap(after, rules);
  const out: Array<[string, number | undefined, number | undefined]> = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push([k, a.get(k), b.get(k)]);
  }
  return out;
}
