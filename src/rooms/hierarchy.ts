/**
 * The space hierarchy (GET /rooms/{roomId}/hierarchy): a depth-first walk
 * from a space down its m.space.child state events, listing each room the
 * requester may see, with its summary and (for spaces) its children.
 *
 * Pages are re-walked rather than remembered: the token records the walk's
 * parameters and how many rooms were already returned, so a page needs no
 * server-side session and survives a restart; the cost, walking the
 * earlier part again, is small for the trees a server like this holds.
 *
 * Rooms this server does not hold are asked of the servers in their
 * `via` (`RemoteSpaces`, federation's /hierarchy through hs.remote); the
 * same walk answers other servers' /hierarchy requests (`forServer`).
 */
import type { ServerContext } from "../context.js";
import { forbidden, invalidParam, notFound } from "../http/errors.js";
import { serverNameOf } from "../room/identifiers.js";
import { stateKey, type JsonObject, type RoomEvent, type StateMap } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { roomSummary } from "./summary.js";

export interface HierarchyRoom extends JsonObject {
  room_id: string;
  children_state: JsonObject[];
}

/** Who asks: a user (the client API) or another server (federation), each shown what the spec lets it see. */
export type Asker = { readonly userId: string; readonly server?: undefined } | { readonly server: string; readonly userId?: undefined };

/** What one server answered for a space it holds: the room, the children its users could reach, and those they cannot. */
export interface RemoteSpace {
  readonly room: HierarchyRoom;
  readonly children: readonly HierarchyRoom[];
  readonly inaccessible: readonly string[];
}

/** Rooms held elsewhere, asked of the servers in their `via` (federation's /hierarchy). */
export interface RemoteSpaces {
  space(roomId: string, via: readonly string[], suggestedOnly: boolean): Promise<RemoteSpace | undefined>;
}

/** The remote half when there is no federation: other servers' rooms are skipped. */
export const NO_REMOTE_SPACES: RemoteSpaces = { space: async () => undefined };

export interface HierarchyRequest {
  readonly suggestedOnly: boolean;
  readonly maxDepth: number;
  readonly limit: number;
  readonly from?: string;
}

/** However deep a tree or loop goes, a walk looks at no more rooms than this. */
const MAX_ROOMS_WALKED = 5_000;
/** A walk asks other servers about at most this many rooms, so one request cannot fan out without bound. */
const MAX_REMOTE_ASKS = 50;

interface Token {
  readonly root: string;
  readonly suggestedOnly: boolean;
  readonly maxDepth: number;
  readonly offset: number;
}

function encodeToken(t: Token): string {
  return Buffer.from(JSON.stringify({ r: t.root, s: t.suggestedOnly, d: t.maxDepth, o: t.offset })).toString("base64url");
}

function decodeToken(raw: string): Token {
  try {
    const o = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as Record<string, unknown>;
    if (typeof o.r === "string" && typeof o.s === "boolean" && Number.isSafeInteger(o.d) && Number.isSafeInteger(o.o) && (o.o as number) >= 0) {
      return { root: o.r, suggestedOnly: o.s, maxDepth: o.d as number, offset: o.o as number };
    }
  } catch {
    // fall through
  }
  throw invalidParam("Unknown pagination token");
}

/** A valid `order`: at most 50 printable ASCII characters. */
function validOrder(v: unknown): v is string {
  return typeof v === "string" && v.length <= 50 && /^[\x20-\x7e]*$/.test(v);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One m.space.child event as the walk needs it, from a local event or a remote server's children_state. */
export interface SpaceChild {
  readonly roomId: string;
  readonly via: string[];
  readonly content: JsonObject;
  readonly originServerTs: number;
}

/** A usable child: an m.space.child with a non-empty `via` of strings (an empty one means "removed"). */
function asChild(type: unknown, stateKeyValue: unknown, content: unknown, ts: unknown): SpaceChild | undefined {
  if (type !== "m.space.child" || typeof stateKeyValue !== "string" || !isObject(content)) return undefined;
  const via = content.via;
  if (!Array.isArray(via) || via.length === 0 || via.some((s) => typeof s !== "string")) return undefined;
  return { roomId: stateKeyValue, via: via as string[], content, originServerTs: typeof ts === "number" ? ts : 0 };
}

/** The spec's order of a space's children: by `order`, then timestamp, then room id. */
export function sortChildren<T extends SpaceChild>(children: readonly T[]): T[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...children].sort((a, b) => {
    const oa = validOrder(a.content.order) ? (a.content.order as string) : undefined;
    const ob = validOrder(b.content.order) ? (b.content.order as string) : undefined;
    if (oa !== undefined && ob === undefined) return -1;
    if (oa === undefined && ob !== undefined) return 1;
    if (oa !== undefined && ob !== undefined && oa !== ob) return cmp(oa, ob);
    return a.originServerTs - b.originServerTs || cmp(a.roomId, b.roomId);
  });
}

/** The children a summary's children_state names (a remote space's), in the spec's order. */
function childrenOfSummary(summary: HierarchyRoom, suggestedOnly: boolean): SpaceChild[] {
  const out: SpaceChild[] = [];
  for (const e of Array.isArray(summary.children_state) ? summary.children_state : []) {
    if (!isObject(e)) continue;
    const c = asChild(e.type, e.state_key, e.content, e.origin_server_ts);
    if (c && (!suggestedOnly || c.content.suggested === true)) out.push(c);
  }
  return sortChildren(out);
}

/** A summary another server sent, if it is shaped like one. */
function asSummary(v: unknown): HierarchyRoom | undefined {
  if (!isObject(v) || typeof v.room_id !== "string") return undefined;
  return { ...v, room_id: v.room_id, children_state: Array.isArray(v.children_state) ? v.children_state.filter(isObject) : [] };
}

/** Parse a federation /hierarchy answer for `roomId`; anything malformed counts as no answer. */
export function parseRemoteSpace(roomId: string, body: unknown): RemoteSpace | undefined {
  if (!isObject(body)) return undefined;
  const room = asSummary(body.room);
  if (!room || room.room_id !== roomId) return undefined;
  const children = (Array.isArray(body.children) ? body.children : []).map(asSummary).filter((c): c is HierarchyRoom => c !== undefined);
  const inaccessible = (Array.isArray(body.inaccessible_children) ? body.inaccessible_children : []).filter((r): r is string => typeof r === "string");
  return { room, children, inaccessible };
}

type Entry = { summary: HierarchyRoom; children: SpaceChild[] };

export class SpaceHierarchy {
  private readonly remote: RemoteSpaces;

  constructor(private readonly hs: ServerContext, remote?: RemoteSpaces) {
    // By default, through whatever answers for other servers (federation plugs into hs.remote after start-up).
    this.remote = remote ?? {
      space: async (roomId, via, suggestedOnly) => parseRemoteSpace(roomId, await hs.remote.spaceHierarchy(roomId, via, suggestedOnly)),
    };
  }

  async walk(requester: string, rootId: string, req: HierarchyRequest): Promise<JsonObject> {
    let offset = 0;
    if (req.from !== undefined) {
      const t = decodeToken(req.from);
      if (t.root !== rootId || t.suggestedOnly !== req.suggestedOnly || t.maxDepth !== req.maxDepth) {
        throw invalidParam("suggested_only and max_depth cannot change on paginated requests");
      }
      offset = t.offset;
    }
    const asker: Asker = { userId: requester };
    const remote = new RemoteWalk(this.remote, req.suggestedOnly, (roomId) => this.hs.states.membershipOf(roomId, requester));
    // A root held elsewhere is asked of the server its id names (room versions before 12 name one; the client API gives no via).
    const rootVia = rootId.includes(":") ? [rootId.slice(rootId.indexOf(":") + 1)] : [];
    const root = (await this.local(asker, rootId, req.suggestedOnly)) ?? (await this.remoteEntry(remote, { roomId: rootId, via: rootVia }));
    if (!root) throw forbidden("You may not view this room");

    const rooms: HierarchyRoom[] = [];
    let shown = 0;
    let more = false;
    const seen = new Set<string>([rootId]);
    // Depth-first: the stack holds what is still to visit, next on top.
    const stack: Array<{ roomId: string; depth: number; via: string[]; entry?: Entry }> = [{ roomId: rootId, depth: 0, via: [], entry: root }];
    let walked = 0;
    while (stack.length > 0 && walked < MAX_ROOMS_WALKED) {
      const next = stack.pop()!;
      walked++;
      const found = next.entry ?? (await this.local(asker, next.roomId, req.suggestedOnly)) ?? (await this.remoteEntry(remote, next));
      if (!found) continue;
      if (shown++ >= offset) {
        if (rooms.length === req.limit) {
          more = true;
          break;
        }
        rooms.push(found.summary);
      }
      if (next.depth >= req.maxDepth) continue;
      for (const child of [...found.children].reverse()) {
        if (seen.has(child.roomId)) continue;
        seen.add(child.roomId);
        stack.push({ roomId: child.roomId, depth: next.depth + 1, via: child.via });
      }
    }
    const out: JsonObject = { rooms };
    if (more) out.next_batch = encodeToken({ root: rootId, suggestedOnly: req.suggestedOnly, maxDepth: req.maxDepth, offset: offset + rooms.length });
    return out;
  }

  /**
   * A space as another server asks for it (federation /hierarchy): the room,
   * its children held here that the server's users could peek or join, and
   * the ids of those they could not. Children held elsewhere are left out.
   */
  async forServer(server: string, roomId: string, suggestedOnly: boolean): Promise<JsonObject> {
    const asker: Asker = { server };
    const root = await this.local(asker, roomId, suggestedOnly);
    if (!root) throw notFound("Unknown room, or not visible to your server");
    const children: HierarchyRoom[] = [];
    const inaccessible: string[] = [];
    for (const child of root.children) {
      if (!(await this.hs.rooms.get(child.roomId))) continue;
      const entry = await this.local(asker, child.roomId, suggestedOnly);
      if (entry) children.push(entry.summary);
      else inaccessible.push(child.roomId);
    }
    return { room: root.summary, children, inaccessible_children: inaccessible };
  }

  private async remoteEntry(remote: RemoteWalk, at: { roomId: string; via: string[] }): Promise<Entry | undefined> {
    if (await this.hs.rooms.get(at.roomId)) return undefined; // held here but not visible: not asked elsewhere
    return remote.entry(at.roomId, at.via);
  }

  /** A room held here, if the asker may see it: its entry and the children to walk. */
  private async local(asker: Asker, roomId: string, suggestedOnly: boolean): Promise<Entry | undefined> {
    const room = await this.hs.rooms.get(roomId);
    if (!room || room.currentSnapshot === null) return undefined;
    const state = await this.hs.states.currentState(roomId);
    if (!(await this.mayView(asker, roomId, room.roomVersion, state))) return undefined;

    const summary: HierarchyRoom = { ...(await roomSummary(this.hs, roomId)), children_state: [] };
    summary.room_version = room.roomVersion;
    const encryption = await this.content(state, "m.room.encryption");
    if (typeof encryption?.algorithm === "string") summary.encryption = encryption.algorithm;
    const joinRules = await this.content(state, "m.room.join_rules");
    const allowed = allowedRooms(joinRules);
    if (allowed.length && (joinRules?.join_rule === "restricted" || joinRules?.join_rule === "knock_restricted")) summary.allowed_room_ids = allowed;

    let children: Array<SpaceChild & { event: RoomEvent }> = [];
    if (summary.room_type === "m.space") {
      const ids = [...state].filter(([k]) => k.startsWith(stateKey("m.space.child", ""))).map(([, id]) => id);
      const events = [...(await this.hs.events.getEvents(ids)).values()].map((s) => s.event);
      const usable = events.flatMap((e) => {
        const c = asChild(e.type, e.stateKey, e.content, e.originServerTs);
        return c && (!suggestedOnly || c.content.suggested === true) ? [{ ...c, event: e }] : [];
      });
      children = sortChildren(usable);
    }
    summary.children_state = children.map(({ event: e }) => ({
      type: e.type, state_key: e.stateKey ?? "", content: e.content, sender: e.sender, origin_server_ts: e.originServerTs,
    }));
    return { summary, children };
  }

  private async content(state: StateMap, type: string): Promise<JsonObject | undefined> {
    const id = state.get(stateKey(type, ""));
    return id === undefined ? undefined : (await this.hs.events.getEvent(id))?.event.content;
  }

  /**
   * The spec's rule for listing a room. A user: joined or invited, or may
   * join (public; restricted through a room they are in), or may knock, or
   * the room is world readable. A server: one of its users is joined, or
   * they could peek or join (world readable, public, knockable, restricted
   * with one of its users in an allowed room we hold: the asking server
   * then checks allowed_room_ids for each of its users).
   */
  private async mayView(asker: Asker, roomId: string, version: string, state: StateMap): Promise<boolean> {
    if ((await this.content(state, "m.room.history_visibility"))?.history_visibility === "world_readable") return true;
    const rules = getRoomVersion(version);
    const joinRules = await this.content(state, "m.room.join_rules");
    const rule = joinRules?.join_rule;
    if (rule === "public") return true;
    if (rules?.knocking && rule === "knock") return true;
    if (rules?.knockRestricted && rule === "knock_restricted") return true;
    if (asker.server !== undefined) {
      const hasMember = async (r: string) => (await this.hs.states.membersOfRoom(r, "join")).some((u) => serverNameOf(u) === asker.server);
      // Restricted: reachable if the asking server has a user in an allowed room that we hold (it then filters per user).
      if (rules?.restrictedJoins && rule === "restricted") {
        for (const allowed of allowedRooms(joinRules)) if (await hasMember(allowed)) return true;
      }
      return hasMember(roomId);
    }
    const memberId = state.get(stateKey("m.room.member", asker.userId));
    const membership = memberId === undefined ? undefined : (await this.hs.events.getEvent(memberId))?.event.content.membership;
    if (membership === "join" || membership === "invite") return true;
    if (rules?.restrictedJoins && rule === "restricted") {
      for (const allowed of allowedRooms(joinRules)) {
        if ((await this.hs.states.membershipOf(allowed, asker.userId)) === "join") return true;
      }
    }
    return false;
  }
}

/**
 * The remote part of one walk: answers are remembered for the walk (a
 * space's answer already summarises its children, so they are not asked
 * again), rooms a server called inaccessible are never asked about, and a
 * remote room is shown to the user only if they could peek or join it.
 */
class RemoteWalk {
  private readonly known = new Map<string, HierarchyRoom>();
  private readonly inaccessible = new Set<string>();
  private asks = 0;

  constructor(
    private readonly remote: RemoteSpaces,
    private readonly suggestedOnly: boolean,
    private readonly membershipOf: (roomId: string) => Promise<string | undefined>,
  ) {}

  async entry(roomId: string, via: string[]): Promise<Entry | undefined> {
    if (this.inaccessible.has(roomId)) return undefined;
    let summary = this.known.get(roomId);
    // A child space summarised by its parent still needs its own children: ask its servers.
    if ((!summary || summary.room_type === "m.space") && this.asks < MAX_REMOTE_ASKS) {
      this.asks++;
      const answer = await this.remote.space(roomId, via, this.suggestedOnly);
      if (answer) {
        summary = answer.room;
        for (const c of answer.children) if (!this.known.has(c.room_id)) this.known.set(c.room_id, c);
        for (const r of answer.inaccessible) this.inaccessible.add(r);
      }
    }
    if (!summary || !(await this.visible(summary))) return undefined;
    return { summary, children: childrenOfSummary(summary, this.suggestedOnly) };
  }

  private async visible(summary: HierarchyRoom): Promise<boolean> {
    const rule = summary.join_rule;
    if (summary.world_readable === true || rule === "public" || rule === "knock" || rule === "knock_restricted") return true;
    if (rule === "restricted" && Array.isArray(summary.allowed_room_ids)) {
      for (const r of summary.allowed_room_ids) if (typeof r === "string" && (await this.membershipOf(r)) === "join") return true;
    }
    const own = await this.membershipOf(summary.room_id);
    return own === "join" || own === "invite";
  }
}

function allowedRooms(joinRules: JsonObject | undefined): string[] {
  const allow = joinRules?.allow;
  if (!Array.isArray(allow)) return [];
  const out: string[] = [];
  for (const a of allow) {
    const o = a as { type?: unknown; room_id?: unknown } | null;
    if (o?.type === "m.room_membership" && typeof o.room_id === "string") out.push(o.room_id);
  }
  return out;
}
