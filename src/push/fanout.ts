/**
 * Push rules at persist time: for every accepted event, local or remote,
 * each local member of the room except the sender has their rules
 * evaluated, and what notifies is written in the event's own transaction
 * (an EventPersister.withinEveryCommit hook), so an acknowledged event
 * never loses its counts in a crash and a rolled-back one leaves none.
 *
 * Kept cheap for a 1,000-member room: the room is read once per event (its
 * joined members in one query, the state snapshot and power levels from
 * the caches), each user's rules are compiled once and cached, and the
 * outcome goes in as one row for the event (PushActionsStore explains why
 * one row, and how it becomes a row per user shortly after).
 */
import type { Knex } from "knex";
import { serverNameOf } from "../room/identifiers.js";
import { creators, parsePowerLevels, userLevelIn, ROOM_NOTIFICATION_DEFAULT } from "../room/power-levels.js";
import { stateKey, type JsonObject, type RoomEvent } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import type { EventStore } from "../storage/event-store.js";
import { MAIN_THREAD, type PendingPush, type PushActionsStore } from "../storage/push-actions-store.js";
import type { PushRulesStore } from "../storage/push-rules-store.js";
import type { StateStore } from "../storage/state-store.js";
import type { PushEventContext } from "./evaluator.js";
import type { TxContext } from "../storage/tx.js";

/** How many relations are followed to find an event's thread (the spec suggests 3). */
const THREAD_HOPS = 3;

export class PushFanout {
  /** Off only for measuring what evaluation costs (test/bench/push-fanout.ts). */
  enabled = true;

  constructor(
    private readonly serverName: string,
    private readonly rules: PushRulesStore,
    private readonly actions: PushActionsStore,
    private readonly events: EventStore,
    private readonly states: StateStore,
  ) {}

  /** The persist pipeline's hook. */
  readonly inCommit = async (trx: Knex.Transaction, event: RoomEvent, accepted: boolean, tx: TxContext): Promise<void> => {
    if (!accepted || !this.enabled) return;
    const row = await trx("events").where({ event_id: event.eventId }).first("stream_ordering", "state_snapshot");
    // Outliers and backfilled history have no place to be counted from.
    if (!row || row.stream_ordering === null) return;
    const ordering = Number(row.stream_ordering);
    const threadId = await this.threadOf(trx, event);
    const local = this.isLocal(event.sender);
    if (local) await this.actions.markReadBySending(tx, event.sender, event.roomId, threadId, ordering);

    const joined: { user_id: string }[] = await trx("room_memberships").where({ room_id: event.roomId, membership: "join" }).select("user_id");
    const recipients = new Set<string>();
    for (const { user_id } of joined) if (user_id !== event.sender && this.isLocal(user_id)) recipients.add(user_id);
    // An invite is for someone not yet in the room (.m.rule.invite_for_me).
    if (event.type === "m.room.member" && event.content.membership === "invite" && event.stateKey !== undefined && event.stateKey !== event.sender && this.isLocal(event.stateKey)) {
      recipients.add(event.stateKey);
    }
    if (recipients.size === 0) return;

    const state = row.state_snapshot === null ? new Map<string, string>() : await this.states.getSnapshot(Number(row.state_snapshot), trx);
    const ctx = await this.eventContext(trx, event, state, joined.length);
    const compiled = await this.rules.compiledFor([...recipients], trx);
    const names = await this.displayNames(trx, state, [...recipients].filter((u) => compiled.get(u)?.needsDisplayName));
    const notified: PendingPush["recipients"][number][] = [];
    for (const userId of recipients) {
      const outcome = compiled.get(userId)?.evaluate(ctx, { displayName: names.get(userId) });
      if (outcome?.notify) notified.push({ userId, actions: outcome.actions, highlight: outcome.highlight });
    }
    if (notified.length) {
      await this.actions.insertPending(trx, {
        eventId: event.eventId, roomId: event.roomId, streamOrdering: ordering, threadId, ts: Date.now(), recipients: notified,
      });
    }
  };

  private isLocal(userId: string): boolean {
    return serverNameOf(userId) === this.serverName;
  }

  private async eventContext(trx: Knex, event: RoomEvent, state: ReadonlyMap<string, string>, memberCount: number): Promise<PushEventContext> {
    const ids = [state.get(stateKey("m.room.power_levels", "")), state.get(stateKey("m.room.create", ""))].filter((x): x is string => x !== undefined);
    const got = await this.events.getEvents(ids, trx);
    const rules = getRoomVersion(event.roomVersion);
    const pl = state.has(stateKey("m.room.power_levels", "")) ? got.get(state.get(stateKey("m.room.power_levels", ""))!)?.event : undefined;
    const create = state.has(stateKey("m.room.create", "")) ? got.get(state.get(stateKey("m.room.create", ""))!)?.event : undefined;
    let senderPowerLevel = 0;
    let levels = new Map<string, number>();
    if (rules) {
      const parsed = parsePowerLevels(pl?.content, rules);
      const roomCreators = create ? creators(create, rules) : [];
      senderPowerLevel = rules.privilegedCreators && roomCreators.includes(event.sender) ? Infinity : userLevelIn(parsed, event.sender, roomCreators);
      levels = new Map(parsed.notifications);
    }
    const shown: JsonObject = {
      event_id: event.eventId, room_id: event.roomId, type: event.type, sender: event.sender,
      origin_server_ts: event.originServerTs, content: event.content,
    };
    if (event.stateKey !== undefined) shown.state_key = event.stateKey;
    return { event: shown, memberCount, senderPowerLevel, notificationLevel: (key) => levels.get(key) ?? ROOM_NOTIFICATION_DEFAULT, memo: new Map() };
  }

  private async displayNames(trx: Knex, state: ReadonlyMap<string, string>, userIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (userIds.length === 0) return out;
    const ids = new Map<string, string>();
    for (const u of userIds) {
      const id = state.get(stateKey("m.room.member", u));
      if (id) ids.set(id, u);
    }
    for (const [id, s] of await this.events.getEvents(ids.keys(), trx)) {
      const name = s.event.content.displayname;
      if (typeof name === "string" && name !== "") out.set(ids.get(id)!, name);
    }
    return out;
  }

  /**
   * The thread an event belongs to: a thread root's id for an m.thread
   * relation, found directly or through up to three relations (a reaction
   * to a reply in a thread is in that thread); else the main timeline.
   */
  private async threadOf(trx: Knex, event: RoomEvent): Promise<string> {
    let content: JsonObject | undefined = event.content;
    for (let hop = 0; hop <= THREAD_HOPS && content; hop++) {
      const rel = content["m.relates_to"];
      if (rel === null || typeof rel !== "object" || Array.isArray(rel) || typeof rel.event_id !== "string") return MAIN_THREAD;
      if (rel.rel_type === "m.thread") return rel.event_id;
      if (typeof rel.rel_type !== "string" || hop === THREAD_HOPS) return MAIN_THREAD;
      const parent = await this.events.getEvent(rel.event_id, trx);
      if (!parent || parent.event.roomId !== event.roomId) return MAIN_THREAD;
      content = parent.event.content;
    }
    return MAIN_THREAD;
  }
}
