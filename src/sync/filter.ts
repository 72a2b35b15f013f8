/**
 * Filters (client-server API: filtering): what a /sync (or /messages)
 * returns. Parsed once into plain predicates; a malformed filter is
 * 400 M_BAD_JSON before anything is read.
 */
import { badJson } from "../http/errors.js";
import type { JsonObject, JsonValue, RoomEvent } from "../room/types.js";

export interface EventFilter {
  readonly limit?: number;
  readonly types?: readonly string[];
  readonly notTypes: readonly string[];
  readonly senders?: readonly string[];
  readonly notSenders: readonly string[];
  readonly rooms?: readonly string[];
  readonly notRooms: readonly string[];
  readonly lazyLoadMembers: boolean;
  readonly includeRedundantMembers: boolean;
  /** room.timeline only: count notifications per thread (unread_thread_notifications). */
  readonly unreadThreadNotifications: boolean;
}

export interface SyncFilter {
  readonly timeline: EventFilter;
  readonly state: EventFilter;
  readonly ephemeral: EventFilter;
  readonly roomAccountData: EventFilter;
  readonly accountData: EventFilter;
  readonly presence: EventFilter;
  readonly rooms?: readonly string[];
  readonly notRooms: readonly string[];
  readonly includeLeave: boolean;
  readonly eventFields?: readonly string[];
}

/** Timeline events per room when the filter sets no limit. */
export const DEFAULT_TIMELINE_LIMIT = 10;
const MAX_TIMELINE_LIMIT = 1000;

function obj(v: unknown, name: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw badJson(`${name} must be an object`);
  return v as Record<string, unknown>;
}

function strings(v: unknown, name: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) throw badJson(`${name} must be a list of strings`);
  return v as string[];
}

function bool(v: unknown, name: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw badJson(`${name} must be a boolean`);
  return v;
}

function eventFilter(raw: unknown, name: string): EventFilter {
  const f = obj(raw, name);
  let limit: number | undefined;
  if (f.limit !== undefined && f.limit !== null) {
    if (typeof f.limit !== "number" || !Number.isInteger(f.limit) || f.limit < 0) throw badJson(`${name}.limit must be a non-negative integer`);
    limit = Math.min(f.limit, MAX_TIMELINE_LIMIT);
  }
  return {
    limit,
    types: strings(f.types, `${name}.types`),
    notTypes: strings(f.not_types, `${name}.not_types`) ?? [],
    senders: strings(f.senders, `${name}.senders`),
    notSenders: strings(f.not_senders, `${name}.not_senders`) ?? [],
    rooms: strings(f.rooms, `${name}.rooms`),
    notRooms: strings(f.not_rooms, `${name}.not_rooms`) ?? [],
    lazyLoadMembers: bool(f.lazy_load_members, `${name}.lazy_load_members`),
    includeRedundantMembers: bool(f.include_redundant_members, `${name}.include_redundant_members`),
    unreadThreadNotifications: bool(f.unread_thread_notifications, `${name}.unread_thread_notifications`),
  };
}

/** Parse and check a filter definition (the body of POST /user/{userId}/filter, or an inline /sync filter). */
export function parseSyncFilter(raw: unknown): SyncFilter {
  const f = obj(raw, "filter");
  const room = obj(f.room, "room");
  const eventFields = strings(f.event_fields, "event_fields");
  if (f.event_format !== undefined && f.event_format !== "client" && f.event_format !== "federation") {
    throw badJson("event_format must be client or federation");
  }
  return {
    timeline: eventFilter(room.timeline, "room.timeline"),
    state: eventFilter(room.state, "room.state"),
    ephemeral: eventFilter(room.ephemeral, "room.ephemeral"),
    roomAccountData: eventFilter(room.account_data, "room.account_data"),
    accountData: eventFilter(f.account_data, "account_data"),
    presence: eventFilter(f.presence, "presence"),
    rooms: strings(room.rooms, "room.rooms"),
    notRooms: strings(room.not_rooms, "room.not_rooms") ?? [],
    includeLeave: bool(room.include_leave, "room.include_leave"),
    eventFields,
  };
}

export const EMPTY_FILTER: SyncFilter = parseSyncFilter({});

/** Type and sender patterns may end in `*`, matching any suffix. */
function matches(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => (p.endsWith("*") ? value.startsWith(p.slice(0, -1)) : p === value));
}

export function allowsRoom(f: SyncFilter, roomId: string): boolean {
  if (f.rooms && !f.rooms.includes(roomId)) return false;
  return !f.notRooms.includes(roomId);
}

export function allowsEvent(f: EventFilter, type: string, sender?: string, roomId?: string): boolean {
  if (f.types && !matches(f.types, type)) return false;
  if (matches(f.notTypes, type)) return false;
  if (sender !== undefined) {
    if (f.senders && !f.senders.includes(sender)) return false;
    if (f.notSenders.includes(sender)) return false;
  }
  if (roomId !== undefined) {
    if (f.rooms && !f.rooms.includes(roomId)) return false;
    if (f.notRooms.includes(roomId)) return false;
  }
  return true;
}

export function allowsRoomEvent(f: EventFilter, ev: RoomEvent): boolean {
  return allowsEvent(f, ev.type, ev.sender, ev.roomId);
}

/** Keep only the listed dotted fields of a client event (event_fields). */
export function pickFields(ev: JsonObject, fields: readonly string[] | undefined): JsonObject {
  if (!fields) return ev;
  const out: JsonObject = {};
  for (const field of fields) {
    const path = field.split(/(?<!\\)\./).map((p) => p.replace(/\\\./g, "."));
    let src: JsonValue | undefined = ev;
    for (const p of path) src = src && typeof src === "object" && !Array.isArray(src) ? (src as JsonObject)[p] : undefined;
    if (src === undefined) continue;
    let dst = out;
    for (const p of path.slice(0, -1)) dst = (dst[p] ??= {}) as JsonObject;
    dst[path[path.length - 1]] = src;
  }
  return out;
}
