/**
 * Our users acting in rooms and on users of other servers: joining a room
 * held elsewhere (make_join, send_join, then the returned state and auth
 * chain checked and stored), leaving or rejecting an invite (make_leave,
 * send_leave), inviting a remote user (their server countersigns),
 * aliases, profiles and end-to-end keys on other servers.
 */
import type { ServerContext } from "../src/context.js";
import { MatrixError } from "../src/http/errors.js";
import { serverNameOf } from "../src/room/identifiers.js";
import { signEvent, toRoomEvent } from "../src/room/event.js";
import { stateKey, type JsonObject, type PDU } from "../src/room/types.js";
import { ROOM_VERSIONS, getRoomVersion, type RoomVersionRules } from "../src/room/versions.js";
import type { RemoteServers } from "../src/remote.js";
import { FederationError, asMatrixError, type FederationClient } from "./client.js";
import type { FederationSender } from "./sender.js";

const V1 = "/_matrix/federation/v1";

/** A PDU's event id, or "" when it is too malformed to have one (it will be dropped anyway). */
export function eventIdOf(pdu: PDU, rules: RoomVersionRules): string {
  try {
    return toRoomEvent(pdu, rules).eventId;
  } catch {
    return "";
  }
}
const V2 = "/_matrix/federation/v2";
const enc = encodeURIComponent;

export class FederationRemote implements RemoteServers {
  constructor(
    private readonly hs: ServerContext,
    private readonly client: FederationClient,
    private readonly queue: FederationSender,
  ) {}

  private get ourName(): string {
    return this.hs.config.server_name;
  }

  /** Try each server in turn; a refusal from one (403, 404) is final only if every other server also fails. */
  private async anyOf<T>(servers: readonly string[], what: string, attempt: (server: string) => Promise<T>): Promise<T> {
    const candidates = [...new Set(servers)].filter((s) => s !== this.ourName);
    if (candidates.length === 0) throw new MatrixError(404, "M_NOT_FOUND", `No server to ${what} through`);
    let last: unknown;
    for (const server of candidates) {
      try {
        return await attempt(server);
      } catch (err) {
        last = err;
        this.hs.log.info(`could not ${what}`, { server, err: String((err as Error)?.message ?? err) });
        if (err instanceof MatrixError) throw err;
      }
    }
    throw asMatrixError(last);
  }

  /** make_* from one server: the template and the room's version. */
  private async makeMembership(server: string, roomId: string, userId: string, kind: "join" | "leave" | "knock"): Promise<{ template: PDU; rules: RoomVersionRules }> {
    const query = kind !== "leave" ? { ver: [...ROOM_VERSIONS.keys()] } : undefined;
    const r = await this.client.request(server, "GET", `${V1}/make_${kind}/${enc(roomId)}/${enc(userId)}`, { query });
    const version = typeof r.room_version === "string" ? r.room_version : "1";
    const rules = getRoomVersion(version);
    if (!rules) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Unsupported room version ${version}`);
    const template = r.event as PDU | undefined;
    if (!template || template.type !== "m.room.member" || template.state_key !== userId || template.sender !== userId) {
      throw new FederationError(server, 502, undefined, `${server} sent a bad make_${kind} template`);
    }
    return { template, rules };
  }

  /** Fill in and sign a template as our own event. */
  private signTemplate(template: PDU, rules: RoomVersionRules, content: JsonObject): PDU {
    const pdu: PDU = {
      ...template,
      origin: this.ourName,
      origin_server_ts: Date.now(),
      content: { ...(template.content ?? {}), ...content },
      hashes: { sha256: "" },
      signatures: {},
    };
    if (rules.eventIdFormat === "server-assigned") pdu.event_id = `$${Math.random().toString(36).slice(2)}${Date.now().toString(36)}:${this.ourName}`;
    return signEvent(pdu, this.ourName, this.hs.signingKey, rules);
  }

  async joinRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string> {
    return this.anyOf(servers, "join the room", async (server) => {
      const { template, rules } = await this.makeMembership(server, roomId, userId, "join");
      const signed = this.signTemplate(template, rules, { ...content, membership: "join" });
      const ev = toRoomEvent(signed, rules);
      const answer = await this.client.request(server, "PUT", `${V2}/send_join/${enc(roomId)}/${enc(ev.eventId)}`, { body: signed, query: { omit_members: false } });
      const list = (v: unknown) => (Array.isArray(v) ? (v as PDU[]) : []);
      // A restricted join comes back countersigned by the resident server: that is the event to keep.
      const returned = answer.event as PDU | undefined;
      const joinEvent = returned ? await this.hs.remoteEvents.check(returned, rules) : ev;
      if (joinEvent.eventId !== ev.eventId) throw new FederationError(server, 502, undefined, "send_join returned another event");
      // One batch: in v12 the create event is in the state but in nobody's auth_events.
      const stateIds = new Set(list(answer.state).map((p) => eventIdOf(p, rules)));
      const stored = await this.hs.remoteEvents.storeChecked([...list(answer.auth_chain), ...list(answer.state)], rules);
      const state = new Map<string, string>();
      for (const e of stored) if (stateIds.has(e.eventId) && e.stateKey !== undefined && e.roomId === roomId) state.set(stateKey(e.type, e.stateKey), e.eventId);
      if (!state.has(stateKey("m.room.create", ""))) throw new FederationError(server, 502, undefined, "send_join returned no create event");
      this.queue.deliveredElsewhere(joinEvent.eventId);
      try {
        await this.hs.remoteEvents.persistWithState(joinEvent, state, rules);
      } finally {
        this.queue.forgetDelivered(joinEvent.eventId); // when the persist failed before its hook ran
      }
      await this.hs.remoteInvites.forget(roomId, userId);
      return roomId;
    });
  }

  async knockRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await this.anyOf(servers, "knock on the room", async (server) => {
      const { template, rules } = await this.makeMembership(server, roomId, userId, "knock");
      const signed = this.signTemplate(template, rules, { ...content, membership: "knock" });
      const ev = toRoomEvent(signed, rules);
      const r = await this.client.request(server, "PUT", `${V1}/send_knock/${enc(roomId)}/${enc(ev.eventId)}`, { body: signed });
      const stripped = Array.isArray(r.knock_room_state) ? (r.knock_room_state as JsonObject[]) : [];
      // Like an invite to a room we are not in: the knock and what the room showed, for our /sync.
      await this.hs.remoteInvites.store(ev, stripped, "knock");
    });
  }

  async leaveRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void> {
    await this.anyOf(servers, "leave the room", async (server) => {
      const { template, rules } = await this.makeMembership(server, roomId, userId, "leave");
      const signed = this.signTemplate(template, rules, { ...content, membership: "leave" });
      const ev = toRoomEvent(signed, rules);
      await this.client.request(server, "PUT", `${V2}/send_leave/${enc(roomId)}/${enc(ev.eventId)}`, { body: signed });
      // We hold no state for a room we only had an invite to: the leave is the membership we remember.
      await this.hs.remoteInvites.retract(ev);
    });
  }

  async invite(roomId: string, roomVersion: string, inviteEvent: JsonObject, strippedState: JsonObject[]): Promise<JsonObject> {
    const pdu = inviteEvent as unknown as PDU;
    const invitee = String(pdu.state_key);
    const server = serverNameOf(invitee)!;
    const rules = getRoomVersion(roomVersion)!;
    const ev = toRoomEvent(pdu, rules);
    try {
      const r = await this.client.request(server, "PUT", `${V2}/invite/${enc(roomId)}/${enc(ev.eventId)}`, {
        body: { room_version: roomVersion, event: pdu, invite_room_state: strippedState },
      });
      const signed = r.event as PDU | undefined;
      if (!signed) throw new FederationError(server, 502, undefined, "invite answer without the event");
      const checked = await this.hs.remoteEvents.check(signed, rules);
      if (checked.eventId !== ev.eventId || !signed.signatures?.[server]) throw new FederationError(server, 502, undefined, "invite not countersigned");
      return signed as JsonObject;
    } catch (err) {
      throw asMatrixError(err);
    }
  }

  async backfill(roomId: string, limit: number): Promise<number> {
    const earliest = await this.hs.events.earliestWithState(roomId);
    if (!earliest || earliest.event.type === "m.room.create") return 0;
    const held = await this.hs.events.getEvents(earliest.event.prevEventIds);
    const from = earliest.event.prevEventIds.filter((id) => !held.has(id));
    if (from.length === 0) {
      // Our history may already go further back than its first stateful event: start from the oldest we hold.
      return 0;
    }
    const rules = await this.hs.localEvents.rulesOf(roomId);
    const servers = new Set<string>();
    for (const u of await this.hs.states.membersOfRoom(roomId, "join")) servers.add(serverNameOf(u)!);
    servers.delete(this.ourName);
    for (const server of servers) {
      try {
        const r = await this.client.request(server, "GET", `${V1}/backfill/${enc(roomId)}`, { query: { v: from, limit } });
        const pdus = Array.isArray(r.pdus) ? (r.pdus as PDU[]) : [];
        return await this.hs.remoteEvents.backfill(server, roomId, pdus, rules);
      } catch (err) {
        this.hs.log.info("backfill failed", { server, room_id: roomId, err: String((err as Error)?.message ?? err) });
      }
    }
    return 0;
  }

  async publicRooms(server: string, params: { limit?: number; since?: string; filter?: Record<string, unknown> }): Promise<JsonObject> {
    try {
      if (params.filter) {
        return await this.client.request<JsonObject>(server, "POST", `${V1}/publicRooms`, { body: { limit: params.limit, since: params.since, filter: params.filter } });
      }
      return await this.client.request<JsonObject>(server, "GET", `${V1}/publicRooms`, { query: { limit: params.limit, since: params.since } });
    } catch (err) {
      throw asMatrixError(err);
    }
  }

  async spaceHierarchy(roomId: string, via: readonly string[], suggestedOnly: boolean): Promise<unknown> {
    for (const server of [...new Set(via)].filter((s) => s !== this.ourName).slice(0, 3)) {
      try {
        return await this.client.request(server, "GET", `${V1}/hierarchy/${enc(roomId)}`, { query: { suggested_only: suggestedOnly } });
      } catch (err) {
        this.hs.log.info("could not read a space", { server, room_id: roomId, err: String((err as Error)?.message ?? err) });
      }
    }
    return undefined;
  }

  async resolveAlias(alias: string): Promise<{ roomId: string; servers: string[] }> {
    const server = serverNameOf(alias)!;
    try {
      const r = await this.client.request(server, "GET", `${V1}/query/directory`, { query: { room_alias: alias } });
      if (typeof r.room_id !== "string") throw new FederationError(server, 502, undefined, "no room_id");
      const servers = Array.isArray(r.servers) ? r.servers.filter((s): s is string => typeof s === "string") : [];
      return { roomId: r.room_id, servers: servers.length ? servers : [server] };
    } catch (err) {
      throw asMatrixError(err);
    }
  }

  async profile(userId: string, field?: string): Promise<JsonObject> {
    try {
      return await this.client.request<JsonObject>(serverNameOf(userId)!, "GET", `${V1}/query/profile`, { query: { user_id: userId, field } });
    } catch (err) {
      throw asMatrixError(err);
    }
  }

  async queryKeys(server: string, deviceKeys: Record<string, string[]>): Promise<JsonObject> {
    return this.client.request<JsonObject>(server, "POST", `${V1}/user/keys/query`, { body: { device_keys: deviceKeys } });
  }

  async sendToDevice(server: string, sender: string, type: string, messageId: string, messages: Record<string, Record<string, JsonObject>>): Promise<void> {
    await this.queue.queueEdu([server], "m.direct_to_device", { sender, type, message_id: messageId, messages });
  }

  async claimKeys(server: string, oneTimeKeys: Record<string, Record<string, string>>): Promise<JsonObject> {
    return this.client.request<JsonObject>(server, "POST", `${V1}/user/keys/claim`, { body: { one_time_keys: oneTimeKeys } });
  }
}
