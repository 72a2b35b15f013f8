/**
 * Events made on this server: fill prev_events from the forward
 * extremities, auth_events from the state before, depth, hashes and
 * signature; check the event against the auth rules; persist it.
 * All under the room's lock, so nothing moves between the check and the commit.
 */
import { randomBytes } from "node:crypto";
import type { SigningKey } from "../crypto/keys.js";
import { authEventTypes, checkAuth } from "../room/auth.js";
import { signEvent, toRoomEvent } from "../room/event.js";
import { computeReferenceHash } from "../room/event-id.js";
import { encodeBase64 } from "../crypto/base64.js";
import { checkEventFormat } from "../room/format.js";
import { stateKey, type EventReference, type JsonObject, type PDU, type RoomEvent } from "../room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../room/versions.js";
import type { EventStore } from "../storage/event-store.js";
import type { RoomStore } from "../storage/room-store.js";
import { KeyedMutex } from "../util/keyed-mutex.js";
import type { CommitHook, EventPersister, PersistedEvent } from "./persist.js";
import { EMPTY_STATE, type ResolvedState, type RoomStateReader } from "./state.js";

export interface EventDraft {
  readonly type: string;
  readonly stateKey?: string;
  readonly sender: string;
  readonly content: JsonObject;
  /** For m.room.redaction: placed top-level or in content as the version wants. */
  readonly redacts?: string;
  readonly originServerTs?: number;
}

/** Depth is capped so it stays a canonical-JSON integer. */
const MAX_DEPTH = Number.MAX_SAFE_INTEGER;
/** How many forward extremities a new event may merge at once. */
const MAX_PREV_EVENTS = 10;

export class UnknownRoomError extends Error {
  constructor(roomId: string) {
    super(`unknown room ${roomId}`);
    this.name = "UnknownRoomError";
  }
}

export class LocalEvents {
  constructor(
    private readonly serverName: string,
    private readonly key: SigningKey,
    private readonly rooms: RoomStore,
    private readonly events: EventStore,
    private readonly state: RoomStateReader,
    private readonly persister: EventPersister,
    private readonly locks: KeyedMutex,
  ) {}

  /** Start a room: persist its m.room.create event. Returns the new room id. */
  async createRoom(creator: string, roomVersion: string, extraContent: JsonObject = {}): Promise<PersistedEvent> {
    const rules = getRoomVersion(roomVersion);
    if (!rules) throw new Error(`unsupported room version ${roomVersion}`);
    const content: JsonObject = { ...extraContent, room_version: roomVersion };
    if (!rules.creatorIsSender) content.creator = creator;
    const roomId = rules.roomIdFromCreateEvent ? undefined : this.makeId("!");
    const event = this.build(rules, roomId, { type: "m.room.create", stateKey: "", sender: creator, content }, [], [], 1);
    checkAuth(event, () => undefined, rules);
    return this.locks.run(event.roomId, () => this.persister.persist(event, rules, { stateBefore: EMPTY_STATE }));
  }

  /**
   * Build, check and persist one event in an existing room. AuthError if
   * the rules forbid it. `countersign` may replace the built event with the
   * same event carrying more signatures (an invite the invitee's server
   * signed) before it is committed; if it throws, nothing is committed.
   */
  async send(
    roomId: string, draft: EventDraft, withinCommit?: CommitHook, countersign?: (event: RoomEvent) => Promise<RoomEvent>,
  ): Promise<PersistedEvent> {
    const rules = await this.rulesOf(roomId);
    return this.locks.run(roomId, async () => {
      const extremities = await this.events.forwardExtremities(roomId);
      const prepared = await this.prepare(rules, roomId, draft, extremities);
      const event = countersign ? await countersign(prepared.event) : prepared.event;
      return this.persister.persist(event, rules, { stateBefore: prepared.stateBefore, withinCommit });
    });
  }

  /**
   * Build and auth-check an event on top of the given prev events without
   * persisting it: how send() starts, and how a caller builds at another
   * point of the DAG (a fork in tests; a join template for federation).
   */
  async prepare(
    rules: RoomVersionRules,
    roomId: string,
    draft: EventDraft,
    prevEventIds: readonly string[],
  ): Promise<{ event: RoomEvent; stateBefore: ResolvedState }> {
    const prevs = [...(await this.events.getEvents(prevEventIds)).values()]
      .sort((a, b) => b.event.depth - a.event.depth)
      .slice(0, MAX_PREV_EVENTS);
    const before = await this.state.stateAfter(rules, prevs.map((p) => p.event.eventId));
    const types = authEventTypes(draft.type, draft.stateKey, draft.sender, draft.content, rules);
    const authIds = types
      .map(([t, k]) => before.state.get(stateKey(t, k)))
      .filter((id): id is string => id !== undefined);
    const authEvents = [...(await this.events.getEvents(authIds)).values()].map((s) => s.event);
    const depth = Math.min(MAX_DEPTH, Math.max(0, ...prevs.map((p) => p.event.depth)) + 1);
    const event = this.build(rules, roomId, draft, prevs.map((p) => p.event), authEvents, depth);
    // The rules read the create event even where it is not an auth event (v12).
    const lookup = await this.state.authLookup(before.state, [["m.room.create", ""], ...types]);
    checkAuth(event, lookup, rules);
    return { event, stateBefore: before };
  }

  async rulesOf(roomId: string): Promise<RoomVersionRules> {
    const version = await this.rooms.version(roomId);
    const rules = version === undefined ? undefined : getRoomVersion(version);
    if (!rules) throw new UnknownRoomError(roomId);
    return rules;
  }

  private build(
    rules: RoomVersionRules,
    roomId: string | undefined,
    draft: EventDraft,
    prevs: RoomEvent[],
    authEvents: RoomEvent[],
    depth: number,
  ): RoomEvent {
    // v1–v2 cite a parent with its reference hash beside its id.
    const ref = (e: RoomEvent): EventReference =>
      rules.eventIdFormat === "server-assigned" ? [e.eventId, { sha256: encodeBase64(computeReferenceHash(e.pdu, rules)) }] : e.eventId;
    const pdu: PDU = {
      type: draft.type,
      sender: draft.sender,
      content: draft.content,
      origin_server_ts: draft.originServerTs ?? Date.now(),
      depth,
      prev_events: prevs.map(ref),
      auth_events: authEvents.map(ref),
      hashes: { sha256: "" },
      signatures: {},
    };
    if (roomId !== undefined) pdu.room_id = roomId;
    if (draft.stateKey !== undefined) pdu.state_key = draft.stateKey;
    if (draft.redacts !== undefined) {
      if (rules.redactsInContent) pdu.content = { ...pdu.content, redacts: draft.redacts };
      else pdu.redacts = draft.redacts;
    }
    if (rules.eventIdFormat === "server-assigned") pdu.event_id = this.makeId("$");
    const signed = signEvent(pdu, this.serverName, this.key, rules);
    checkEventFormat(signed, rules);
    return toRoomEvent(signed, rules);
  }

  private makeId(sigil: "!" | "$"): string {
    return `${sigil}${randomBytes(12).toString("base64url")}:${this.serverName}`;
  }
}
