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
 * Rooms this server does not hold are asked of `RemoteSpaces`, the seam
 * where federation (/_matrix/federation/v1/hierarchy) plugs in; until it
 * does, they are left out.
 */
import type { ServerContext } from "../context.js";
import { forbidden, invalidParam } from "../http/errors.js";
import { stateKey, type JsonObject, type RoomEvent, type StateMap } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { roomSummary } from "./summary.js";

export interface HierarchyRoom extends JsonObject {
  room_id: string;
  children_state: JsonObject[];
}

/** A room held elsewhere, summarised by one of the servers in its `via`. */
export interface RemoteSpaces {
  room(requester: string, roomId: string, via: readonly string[], suggestedOnly: boolean): Promise<HierarchyRoom | undefined>;
}

/** Until federation answers for other servers' rooms: they are skipped. */
export const NO_REMOTE_SPACES: RemoteSpaces = { room: async () => undefined };

export interface HierarchyRequest {
  readonly suggestedOnly: boolean;
  readonly maxDepth: number;
  readonly limit: number;
  readonly from?: string;
}

/** However deep a tree or loop goes, a walk looks at no more rooms than this. */
const MAX_ROOMS_WALKED = 5_000;

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

function viaOf(ev: RoomEvent): string[] | undefined {
  const via = ev.content.via;
  if (!Array.isArray(via) || via.length === 0 || via.some((s) => typeof s !== "string")) return undefined;
  return via as string[];
}

/** The spec's order of a space's children: by `order`, then timestamp, then room id. */
export function sortChildren(children: RoomEvent[]): RoomEvent[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...children].sort((a, b) => {
    const oa = validOrder(a.content.order) ? (a.content.order as string) : undefined;
    const ob = validOrder(b.content.order) ? (b.content.order as string) : undefined;
    if (oa !== undefined && ob === undefined) return -1;
    if (oa === undefined && ob !== undefined) return 1;
    if (oa !== undefined && ob !== undefined && oa !== ob) return cmp(oa, ob);
    return a.originServerTs - b.originServerTs || cmp(a.stateKey ?? "", b.stateKey ?? "");
  });
}

export class SpaceHierarchy {
  constructor(
    private readonly hs: ServerContext,
    private readonly remote: RemoteSpaces = NO_REMOTE_SPACES,
  ) {}

  async walk(requester: string, rootId: string, req: HierarchyRequest): Promise<JsonObject> {
    let offset = 0;
    if (req.from !== undefined) {
      const t = decodeToken(req.from);
      if (t.root !== rootId || t.suggestedOnly !== req.suggestedOnly || t.maxDepth !== req.maxDepth) {
        throw invalidParam("suggested_only and max_depth cannot change on paginated requests");
      }
      offset = t.offset;
    }
    const root = await this.local(requester, rootId, req.suggestedOnly);
    if (!root) throw forbidden("You may not view this room");

    const rooms: HierarchyRoom[] = [];
    let shown = 0;
    let more = false;
    const seen = new Set<string>([rootId]);
    // Depth-first: the stack holds what is still to visit, next on top.
    const stack: Array<{ roomId: string; depth: number; via: string[]; entry?: Awaited<ReturnType<SpaceHierarchy["local"]>> }> = [
      { roomId: rootId, depth: 0, via: [], entry: root },
    ];
    let walked = 0;
    while (stack.length > 0 && walked < MAX_ROOMS_WALKED) {
      const next = stack.pop()!;
      walked++;
      const found = next.entry ?? (await this.local(requester, next.roomId, req.suggestedOnly)) ?? (await this.remoteEntry(requester, next, req.suggestedOnly));
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
        const childId = child.stateKey!;
        if (seen.has(childId)) continue;
        seen.add(childId);
        stack.push({ roomId: childId, depth: next.depth + 1, via: viaOf(child)! });
      }
    }
    const out: JsonObject = { rooms };
    if (more) out.next_batch = encodeToken({ root: rootId, suggestedOnly: req.suggestedOnly, maxDepth: req.maxDepth, offset: offset + rooms.length });
    return out;
  }

  private async remoteEntry(requester: string, at: { roomId: string; via: string[] }, suggestedOnly: boolean) {
    if (await this.hs.rooms.get(at.roomId)) return undefined; // held here but not visible: not asked elsewhere
    const summary = await this.remote.room(requester, at.roomId, at.via, suggestedOnly);
    // A remote space's own children are not walked until federation gives them with the summary.
    return summary ? { summary, children: [] as RoomEvent[] } : undefined;
  }

  /** A room held here, if the requester may see it: its entry and the children to walk. */
  private async local(requester: string, roomId: string, suggestedOnly: boolean): Promise<{ summary: HierarchyRoom; children: RoomEvent[] } | undefined> {
    const room = await this.hs.rooms.get(roomId);
    if (!room || room.currentSnapshot === null) return undefined;
    const state = await this.hs.states.currentState(roomId);
    if (!(await this.mayView(requester, room.roomVersion, state))) return undefined;

    const summary: HierarchyRoom = { ...(await roomSummary(this.hs, roomId)), children_state: [] };
    summary.room_version = room.roomVersion;
    const encryption = await this.content(state, "m.room.encryption");
    if (typeof encryption?.algorithm === "string") summary.encryption = encryption.algorithm;
    const joinRules = await this.content(state, "m.room.join_rules");
    const allowed = allowedRooms(joinRules);
    if (allowed.length && (joinRules?.join_rule === "restricted" || joinRules?.join_rule === "knock_restricted")) summary.allowed_room_ids = allowed;

    let children: RoomEvent[] = [];
    if (summary.room_type === "m.space") {
      const ids = [...state].filter(([k]) => k.startsWith(stateKey("m.space.child", ""))).map(([, id]) => id);
      const events = [...(await this.hs.events.getEvents(ids)).values()].map((s) => s.event);
      children = sortChildren(events.filter((e) => e.type === "m.space.child" && viaOf(e) && (!suggestedOnly || e.content.suggested === true)));
    }
    summary.children_state = children.map((e) => ({
      type: e.type, state_key: e.stateKey ?? "", content: e.content, sender: e.sender, origin_server_ts: e.originServerTs,
    }));
    return { summary, children };
  }

  private async content(state: StateMap, type: string): Promise<JsonObject | undefined> {
    const id = state.get(stateKey(type, ""));
    return id === undefined ? undefined : (await this.hs.events.getEvent(id))?.event.content;
  }

  /**
   * The spec's rule for listing a room: the requester is joined or
   * invited, or may join (public; restricted through a room they are in),
   * or may knock, or the room is world readable.
   */
  private async mayView(requester: string, version: string, state: StateMap): Promise<boolean> {
    const memberId = state.get(stateKey("m.room.member", requester));
    const membership = memberId === undefined ? undefined : (await this.hs.events.getEvent(memberId))?.event.content.membership;
    if (membership === "join" || membership === "invite") return true;
    if ((await this.content(state, "m.room.history_visibility"))?.history_visibility === "world_readable") return true;
    const rules = getRoomVersion(version);
    const joinRules = await this.content(state, "m.room.join_rules");
    const rule = joinRules?.join_rule;
    if (rule === "public") return true;
    if (rules?.knocking && rule === "knock") return true;
    if (rules?.knockRestricted && rule === "knock_restricted") return true;
    if (rules?.restrictedJoins && rule === "restricted") {
      for (const roomId of allowedRooms(joinRules)) {
        if ((await this.hs.states.membershipOf(roomId, requester)) === "join") return true;
      }
    }
    return false;
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
