/**
 * Events made on other servers. Every PDU that arrives (in a transaction,
 * a join, an invite, a backfill) goes through here before the persist
 * pipeline: its format, its signatures (dropped if one fails) and content
 * hash (redacted if it fails); its missing prev events fetched (a bounded
 * get_missing_events, else the state at the gap from /state); its auth
 * events fetched; then the authorisation rules against its auth events and
 * against the state before it (rejected if either fails) and against the
 * room's current state (soft-failed: kept, but not shown or built upon).
 *
 * The network side is an interface (RemoteRoomSource) that federation/
 * implements, so the engine never speaks HTTP.
 */
import { checkContentHash } from "../room/event-id.js";
import { authEventTypes, checkAuth, checkAuthEvents } from "../room/auth.js";
import { requiredSigners, toRoomEvent, verifyEventSignature, type PublicKeyInfo } from "../room/event.js";
import { checkEventFormat } from "../room/format.js";
import { redactPdu } from "../room/redaction.js";
import { AuthError, stateKey, type PDU, type RoomEvent, type StateMap } from "../room/types.js";
import type { RoomVersionRules } from "../room/versions.js";
import type { EventStore } from "../storage/event-store.js";
import type { RoomStore } from "../storage/room-store.js";
import type { StateStore } from "../storage/state-store.js";
import type { Logger } from "../logger.js";
import type { KeyedMutex } from "../util/keyed-mutex.js";
import type { EventPersister, PersistedEvent } from "./persist.js";
import type { ResolvedState, RoomStateReader } from "./state.js";

/** What the engine asks of other servers; federation/ implements it. */
export interface RemoteRoomSource {
  event(server: string, eventId: string): Promise<PDU | undefined>;
  missingEvents(server: string, roomId: string, earliest: string[], latest: string[], limit: number, minDepth: number): Promise<PDU[]>;
  /** The room state before `eventId` and its auth chain (GET /state). */
  stateAt(server: string, roomId: string, eventId: string): Promise<{ pdus: PDU[]; authChain: PDU[] }>;
  /** The auth chain of an event (GET /event_auth). */
  authChain(server: string, roomId: string, eventId: string): Promise<PDU[]>;
}

/** The keys of a server, for checking signatures; undefined when the key cannot be had. */
export type ServerKeyLookup = (server: string, keyId: string, atTs: number) => Promise<Uint8Array | undefined>;

export class BadSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadSignatureError";
  }
}

export type Outcome = "accepted" | "rejected" | "soft-failed" | "duplicate";

/** How far back a gap is filled from the sender before asking for the state instead. */
const MISSING_EVENTS_LIMIT = 20;
/** Auth events fetched one by one before asking for the whole auth chain. */
const MAX_AUTH_FETCH = 10;

export class RemoteEvents {
  constructor(
    private readonly events: EventStore,
    private readonly rooms: RoomStore,
    private readonly states: StateStore,
    private readonly state: RoomStateReader,
    private readonly persister: EventPersister,
    private readonly locks: KeyedMutex,
    private readonly log: Logger,
  ) {}

  private keys: ServerKeyLookup = async () => undefined;
  private sourceImpl: RemoteRoomSource | undefined;

  /** Plug in federation: where keys and missing events come from. */
  connect(keys: ServerKeyLookup, source: RemoteRoomSource): void {
    this.keys = keys;
    this.sourceImpl = source;
  }

  private source(): RemoteRoomSource {
    if (!this.sourceImpl) throw new Error("federation is not available");
    return this.sourceImpl;
  }

  /**
   * A received PDU as an event: format and signatures checked (throws
   * EventFormatError or BadSignatureError, and the event is dropped), and
   * redacted if its content hash does not match (it keeps its id).
   */
  async check(pdu: PDU, rules: RoomVersionRules): Promise<RoomEvent> {
    checkEventFormat(pdu, rules, { received: true });
    const { unsigned: _u, ...clean } = pdu;
    const bare = clean as PDU;
    for (const server of requiredSigners(bare, rules)) {
      const keys = new Map<string, PublicKeyInfo>();
      for (const keyId of Object.keys(bare.signatures?.[server] ?? {})) {
        if (!keyId.startsWith("ed25519:")) continue;
        const key = await this.keys(server, keyId, rules.enforceKeyValidity ? bare.origin_server_ts : 0);
        if (key) keys.set(keyId, { key });
      }
      if (!verifyEventSignature(bare, rules, server, keys)) throw new BadSignatureError(`no valid signature by ${server}`);
    }
    if (!checkContentHash(bare, rules)) return toRoomEvent(redactPdu(bare, rules), rules);
    return toRoomEvent(bare, rules);
  }

  /**
   * A PDU pushed to us (a transaction, a send_join, a send_leave): checked,
   * gaps filled from `origin`, authorised and persisted, under the room's
   * lock. Throws for a PDU that must be dropped (bad format or signature).
   */
  async receive(origin: string, pdu: PDU, rules: RoomVersionRules): Promise<{ outcome: Outcome; event: RoomEvent; persisted?: PersistedEvent }> {
    const event = await this.check(pdu, rules);
    return this.locks.run(event.roomId, () => this.receiveChecked(origin, event, rules, true));
  }

  private async receiveChecked(origin: string, event: RoomEvent, rules: RoomVersionRules, fillGaps: boolean) {
    const existing = await this.events.getEvent(event.eventId);
    // In the DAG already: nothing new. Held only as an outlier (an invite we countersigned, state given with a join):
    // now that it arrives through the room it takes its place there.
    const placeable = existing?.outlier === true && existing.streamOrdering === null && existing.rejectedReason === null;
    if (existing && !placeable) return { outcome: "duplicate" as const, event };
    if (fillGaps) await this.fillGap(origin, event, rules);
    await this.fetchAuthEvents(origin, event, rules);

    const rejection = await this.authAgainstAuthEvents(event, rules);
    const stateBefore = await this.stateBefore(event, rules);
    let reason = rejection;
    if (reason === undefined) reason = await this.authAgainstState(event, stateBefore.state, rules);
    if (reason === undefined) {
      // Soft failure: allowed by the DAG but not by the room as it is now (a banned user's late message).
      const current = await this.states.currentState(event.roomId);
      const soft = await this.authAgainstState(event, current, rules);
      if (soft !== undefined) reason = `soft-failed: ${soft}`;
    }
    const persisted = await this.persister.persist(event, rules, { stateBefore, rejectedReason: reason, heldAsOutlier: placeable ? existing : undefined });
    const outcome: Outcome = reason === undefined ? "accepted" : reason.startsWith("soft-failed") ? "soft-failed" : "rejected";
    if (outcome !== "accepted") this.log.info("remote event not accepted", { event_id: event.eventId, reason });
    return { outcome, event, persisted };
  }

  /** Bring in prev events we lack: first from the sender's recent history, then (for what is still missing) the state at each. */
  private async fillGap(origin: string, event: RoomEvent, rules: RoomVersionRules): Promise<void> {
    let missing = await this.missingPrevs(event);
    if (missing.length === 0) return;
    const latest = await this.events.forwardExtremities(event.roomId);
    try {
      const fetched = await this.source().missingEvents(origin, event.roomId, latest, [event.eventId], MISSING_EVENTS_LIMIT, Math.max(0, event.depth - MISSING_EVENTS_LIMIT));
      const checked: RoomEvent[] = [];
      for (const pdu of fetched) {
        try {
          checked.push(await this.check(pdu, rules));
        } catch (err) {
          this.log.info("dropped a fetched missing event", { err: String(err) });
        }
      }
      // Oldest first, each on the ones before it; none of them may open a new gap fetch.
      checked.sort((a, b) => a.depth - b.depth);
      for (const ev of checked) {
        if (ev.eventId === event.eventId || (await this.missingPrevs(ev)).length > 0) continue;
        const stored = await this.events.getEvent(ev.eventId);
        if (stored && !stored.outlier) continue;
        await this.receiveChecked(origin, ev, rules, false);
      }
    } catch (err) {
      this.log.info("get_missing_events failed", { room_id: event.roomId, err: String(err) });
    }
    missing = await this.missingPrevs(event);
    for (const prevId of missing.slice(0, 5)) await this.learnStateAt(origin, event.roomId, prevId, rules);
  }

  /** Prev events we do not hold with their state. */
  private async missingPrevs(event: RoomEvent): Promise<string[]> {
    const held = await this.events.getEvents(event.prevEventIds);
    return event.prevEventIds.filter((id) => held.get(id)?.stateSnapshot == null);
  }

  /** A prev event we cannot place: fetch it and the state before it, and keep it as an outlier with the state after it. */
  private async learnStateAt(origin: string, roomId: string, eventId: string, rules: RoomVersionRules): Promise<void> {
    const source = this.source();
    const pdu = await source.event(origin, eventId);
    if (!pdu) throw new Error(`${origin} could not give us ${eventId}`);
    const prev = await this.check(pdu, rules);
    const { pdus, authChain } = await source.stateAt(origin, roomId, eventId);
    const stateIds = new Set<string>();
    for (const p of pdus) {
      try {
        stateIds.add(toRoomEvent(p, rules).eventId);
      } catch {
        // malformed: dropped by storeChecked too
      }
    }
    const stored = await this.storeChecked([...authChain, ...pdus], rules);
    const stateAfter = new Map<string, string>();
    for (const e of stored) if (stateIds.has(e.eventId) && e.stateKey !== undefined) stateAfter.set(stateKey(e.type, e.stateKey), e.eventId);
    if (prev.stateKey !== undefined) stateAfter.set(stateKey(prev.type, prev.stateKey), prev.eventId);
    await this.persister.storeOutliers([{ event: prev, stateAfter }]);
  }

  /** Make sure every auth event of `event` is stored: one by one for a few, else the whole chain. */
  private async fetchAuthEvents(origin: string, event: RoomEvent, rules: RoomVersionRules): Promise<void> {
    const held = await this.events.getEvents(event.authEventIds);
    const missing = event.authEventIds.filter((id) => !held.has(id));
    if (missing.length === 0) return;
    const source = this.source();
    if (missing.length <= MAX_AUTH_FETCH) {
      const pdus = (await Promise.all(missing.map((id) => source.event(origin, id).catch(() => undefined)))).filter((p): p is PDU => p !== undefined);
      await this.storeChecked(pdus, rules);
      if ((await this.events.getEvents(event.authEventIds)).size === new Set(event.authEventIds).size) return;
    }
    await this.storeChecked(await source.authChain(origin, event.roomId, event.eventId), rules);
  }

  /**
   * Check and store events as outliers, in an order where each comes after
   * its auth events; each is authorised against its own auth events, and
   * kept as rejected if that fails. Events that fail their signature are
   * dropped. Returns the events kept.
   */
  async storeChecked(pdus: readonly PDU[], rules: RoomVersionRules): Promise<RoomEvent[]> {
    const byId = new Map<string, RoomEvent>();
    for (const pdu of pdus) {
      try {
        const ev = await this.check(pdu, rules);
        byId.set(ev.eventId, ev);
      } catch (err) {
        this.log.info("dropped a remote event", { err: String(err) });
      }
    }
    const ordered = topologicalByAuth([...byId.values()]);
    const rejected = new Map<string, string>();
    const batch: Array<{ event: RoomEvent; rejectedReason?: string }> = [];
    const known = await this.events.getEvents(ordered.flatMap((e) => e.authEventIds));
    for (const ev of ordered) {
      const authEvents = ev.authEventIds.map((id) => byId.get(id) ?? known.get(id)?.event).filter((e): e is RoomEvent => e !== undefined);
      let reason: string | undefined;
      try {
        const lookup = checkAuthEvents(ev, authEvents, rules, {
          isRejected: (id) => rejected.has(id) || (known.get(id)?.rejectedReason ?? null) !== null,
          createEvent: this.createEventFor(ev, byId, known),
        });
        checkAuth(ev, lookup, rules);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        reason = err.message;
        rejected.set(ev.eventId, reason);
        this.log.info("remote outlier rejected", { event_id: ev.eventId, type: ev.type, reason });
      }
      batch.push({ event: ev, rejectedReason: reason });
    }
    await this.persister.storeOutliers(batch);
    return ordered;
  }

  private createEventFor(ev: RoomEvent, byId: Map<string, RoomEvent>, known: Map<string, { event: RoomEvent }>): RoomEvent | undefined {
    // v12: the room id is the create event's id.
    const id = `$${ev.roomId.slice(1)}`;
    return byId.get(id) ?? known.get(id)?.event ?? [...byId.values()].find((e) => e.type === "m.room.create" && e.roomId === ev.roomId);
  }

  /** The auth-events check: undefined when it passes, else why not. */
  private async authAgainstAuthEvents(event: RoomEvent, rules: RoomVersionRules): Promise<string | undefined> {
    const stored = await this.events.getEvents(event.authEventIds);
    const authEvents = [...stored.values()].map((s) => s.event);
    let createEvent: RoomEvent | undefined;
    if (rules.roomIdFromCreateEvent) createEvent = (await this.events.getEvent(`$${event.roomId.slice(1)}`))?.event;
    try {
      const lookup = checkAuthEvents(event, authEvents, rules, { isRejected: (id) => stored.get(id)?.rejectedReason != null, createEvent });
      checkAuth(event, lookup, rules);
      return undefined;
    } catch (err) {
      if (err instanceof AuthError) return err.message;
      throw err;
    }
  }

  /** The rules against a state map: undefined when they pass, else why not. */
  private async authAgainstState(event: RoomEvent, state: StateMap, rules: RoomVersionRules): Promise<string | undefined> {
    const types = authEventTypes(event.type, event.stateKey, event.sender, event.content, rules);
    const lookup = await this.state.authLookup(state, [["m.room.create", ""], ...types]);
    try {
      checkAuth(event, lookup, rules);
      return undefined;
    } catch (err) {
      if (err instanceof AuthError) return err.message;
      throw err;
    }
  }

  private async stateBefore(event: RoomEvent, rules: RoomVersionRules): Promise<ResolvedState> {
    const held = await this.events.getEvents(event.prevEventIds);
    const placed = event.prevEventIds.filter((id) => held.get(id)?.stateSnapshot != null);
    if (placed.length === 0) {
      if (event.type === "m.room.create") return { state: new Map(), snapshot: null, nearest: null };
      throw new Error("none of the event's prev events could be placed in the room");
    }
    return this.state.stateAfter(rules, placed);
  }

  /**
   * Persist an event whose state before we were told (a join we sent:
   * send_join answers with the state and auth chain), under the room's lock.
   */
  async persistWithState(event: RoomEvent, stateBefore: StateMap, rules: RoomVersionRules): Promise<PersistedEvent> {
    return this.locks.run(event.roomId, async () => {
      const reason = await this.authAgainstState(event, stateBefore, rules);
      if (reason !== undefined) throw new AuthError(reason);
      return this.persister.persist(event, rules, { stateBefore: { state: stateBefore, snapshot: null, nearest: null } });
    });
  }

  /**
   * History another server sent for backfill: checked and authorised
   * against its own auth events, then placed below what we hold, newest
   * first (so positions count down into the past). Its state is
   * approximated by the state our own history starts with, less the
   * joiner's membership: enough to apply history visibility to it.
   * Returns how many events were added.
   */
  async backfill(origin: string, roomId: string, pdus: readonly PDU[], rules: RoomVersionRules): Promise<number> {
    return this.locks.run(roomId, async () => {
      const fresh: RoomEvent[] = [];
      for (const pdu of pdus) {
        try {
          const ev = await this.check(pdu, rules);
          const known = await this.events.getEvent(ev.eventId);
          // New, or held only as an outlier (state we were given with the join) and now placed in the history.
          if (ev.roomId !== roomId || (known && !(known.outlier && known.streamOrdering === null && known.rejectedReason === null))) continue;
          fresh.push(ev);
        } catch (err) {
          this.log.info("dropped a backfilled event", { err: String(err) });
        }
      }
      if (fresh.length === 0) return 0;
      const snapshot = await this.historyState(roomId);
      fresh.sort((a, b) => b.depth - a.depth || (a.eventId < b.eventId ? 1 : -1));
      for (const ev of fresh) {
        const known = await this.events.getEvent(ev.eventId);
        if (known) {
          await this.persister.persistBackfilled(known.event, snapshot);
          continue;
        }
        await this.fetchAuthEvents(origin, ev, rules).catch(() => undefined);
        const reason = await this.authAgainstAuthEvents(ev, rules);
        await this.persister.persistBackfilled(ev, snapshot, reason);
      }
      return fresh.length;
    });
  }

  /** The snapshot standing for the state of history before our earliest event. */
  private async historyState(roomId: string): Promise<number | null> {
    const first = await this.events.earliestWithState(roomId);
    if (!first) return null;
    const state = new Map(await this.states.getSnapshot(first.stateSnapshot!));
    if (first.event.stateKey !== undefined && first.event.type === "m.room.member") state.delete(stateKey(first.event.type, first.event.stateKey));
    return this.persister.storeSnapshot(roomId, state);
  }

  async knowsRoom(roomId: string): Promise<boolean> {
    return (await this.rooms.version(roomId)) !== undefined;
  }
}

/** Events ordered so each follows the auth events among them (ties by depth, then id). */
export function topologicalByAuth(events: readonly RoomEvent[]): RoomEvent[] {
  const byId = new Map(events.map((e) => [e.eventId, e]));
  const out: RoomEvent[] = [];
  const state = new Map<string, "visiting" | "done">();
  const sorted = [...events].sort((a, b) => a.depth - b.depth || (a.eventId < b.eventId ? -1 : 1));
  const visit = (e: RoomEvent) => {
    const s = state.get(e.eventId);
    if (s === "done" || s === "visiting") return;
    state.set(e.eventId, "visiting");
    for (const id of e.authEventIds) {
      const dep = byId.get(id);
      if (dep) visit(dep);
    }
    state.set(e.eventId, "done");
    out.push(e);
  };
  for (const e of sorted) visit(e);
  return out;
}
