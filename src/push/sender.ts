/**
 * Delivery to HTTP pushers (the push gateway API, POST
 * /_matrix/push/v1/notify), off the persist path: after an event commits,
 * the pushers of local users in its room are poked, and each works through
 * its user's notifications after the position it last delivered
 * (pushers.last_stream_ordering), in order, one request at a time. So a
 * restart resumes where delivery stopped, and nothing is sent twice
 * unless a gateway failed to answer (the gateway deduplicates by event id).
 *
 * A gateway that fails is retried with exponential backoff; a notification
 * it keeps failing for longer than push.give_up_after_ms is skipped.
 * Pushkeys the gateway answers as rejected lose their pushers.
 */
import type { Config } from "../config.js";
import type { PersistedEvent } from "../engine/persist.js";
import type { Logger } from "../logger.js";
import { stateKey, type JsonObject, type JsonValue } from "../room/types.js";
import type { EventStore } from "../storage/event-store.js";
import type { PushActionRow, PushActionsStore } from "../storage/push-actions-store.js";
import type { Pusher, PushersStore } from "../storage/push-pushers-store.js";
import type { StateStore } from "../storage/state-store.js";
import type { StreamIdGenerator } from "../storage/stream-ids.js";
import { tweaksOf } from "./evaluator.js";
import type { GatewayClient } from "./gateway-client.js";

/** Notifications read per round, and rounds per wake-up before yielding to a fresh timer. */
const BATCH = 20;
const ROUNDS = 10;

interface PusherState {
  running: boolean;
  again: boolean;
  timer?: NodeJS.Timeout;
  failures: number;
  failingSince?: number;
}

export interface PushSenderDeps {
  readonly config: Config["push"];
  readonly log: Logger;
  readonly pushers: PushersStore;
  readonly actions: PushActionsStore;
  readonly events: EventStore;
  readonly states: StateStore;
  readonly eventStream: StreamIdGenerator;
  readonly client: GatewayClient;
  /** Local users who may see a room (joined, invited). */
  readonly localUsers: (roomId: string) => Promise<ReadonlySet<string>>;
  /** Rooms the user is joined to (for the unread count sent with each push). */
  readonly joinedRooms: (userId: string) => Promise<string[]>;
  /** Rooms the user has any membership in (where their notifications may be). */
  readonly memberRooms: (userId: string) => Promise<string[]>;
}

export class PushSender {
  private readonly state = new Map<number, PusherState>();
  private closed = false;

  constructor(private readonly deps: PushSenderDeps) {}

  /** Catch up every pusher (after a restart, delivery resumes where it stopped). */
  async start(): Promise<void> {
    for (const p of await this.deps.pushers.all()) this.schedule(p.id, 0);
  }

  close(): void {
    this.closed = true;
    for (const s of this.state.values()) clearTimeout(s.timer);
    this.state.clear();
  }

  /** The persist listener: poke the pushers of the room's local users. */
  readonly onPersisted = (p: PersistedEvent): void => {
    if (p.streamOrdering === null || this.closed) return;
    void (async () => {
      const withPushers = await this.deps.pushers.usersWithPushers();
      if (withPushers.size === 0) return;
      const users = new Set(await this.deps.localUsers(p.event.roomId));
      if (p.event.type === "m.room.member" && p.event.stateKey !== undefined) users.add(p.event.stateKey);
      for (const u of users) if (u !== p.event.sender && withPushers.has(u)) await this.poke(u);
    })().catch((err) => this.deps.log.warn("push poke failed", { err: String(err) }));
  };

  /**
   * The user read something (a receipt): tell their gateways the new
   * unread count, so a phone's badge clears when they read elsewhere. One
   * attempt each, nothing queued: the next notification carries the count
   * anyway. Sent even when zero (that is the update), the only case where
   * a zero count is sent.
   */
  readonly onReceipt = (userId: string): void => {
    if (this.closed) return;
    void (async () => {
      if (!(await this.deps.pushers.usersWithPushers()).has(userId)) return;
      const unread = await this.unreadTotal(userId);
      for (const p of await this.deps.pushers.forUser(userId)) {
        if (p.kind !== "http" || typeof p.data.url !== "string") continue;
        const { url: _url, ...data } = p.data;
        const device = { app_id: p.appId, pushkey: p.pushkey, pushkey_ts: Math.floor(p.pushkeyTs / 1000), data, tweaks: {} };
        await this.deps.client.post(p.data.url, { notification: { counts: { unread }, devices: [device] } })
          .catch((err) => this.deps.log.info("push gateway unreachable for a count update", { pusher: p.id, err: String(err) }));
      }
    })().catch((err) => this.deps.log.warn("push count update failed", { err: String(err) }));
  };

  async poke(userId: string): Promise<void> {
    for (const p of await this.deps.pushers.forUser(userId)) this.schedule(p.id, 0);
  }

  private schedule(id: number, delayMs: number): void {
    if (this.closed) return;
    let s = this.state.get(id);
    if (!s) this.state.set(id, (s = { running: false, again: false, failures: 0 }));
    if (s.running) {
      s.again = true;
      return;
    }
    // A retry already waiting keeps its backoff: a new event does not hammer a failing gateway.
    if (s.timer && s.failures > 0) return;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => void this.drain(id), delayMs);
    s.timer.unref?.();
  }

  private async drain(id: number): Promise<void> {
    const s = this.state.get(id);
    if (!s || this.closed) return;
    s.timer = undefined;
    s.running = true;
    let retryIn: number | undefined;
    try {
      for (let round = 0; round < ROUNDS && !this.closed; round++) {
        s.again = false;
        const pusher = await this.deps.pushers.get(id);
        if (!pusher || pusher.kind !== "http") {
          this.state.delete(id);
          return;
        }
        const rooms = await this.deps.memberRooms(pusher.userId);
        const rows = await this.deps.actions.pending(pusher.userId, rooms, pusher.lastStreamOrdering, this.deps.eventStream.position, BATCH);
        if (rows.length === 0 && !s.again) break;
        for (const row of rows) {
          const outcome = await this.deliver(pusher, row);
          if (outcome === "gone") {
            this.state.delete(id);
            return;
          }
          if (outcome === "failed") {
            const now = Date.now();
            s.failingSince ??= now;
            if (now - s.failingSince < this.deps.config.give_up_after_ms) {
              retryIn = Math.min(this.deps.config.retry_initial_ms * 2 ** s.failures, this.deps.config.retry_max_ms);
              s.failures++;
              return;
            }
            this.deps.log.warn("push gateway kept failing: notification skipped", { pusher: id, event_id: row.eventId });
          }
          s.failures = 0;
          s.failingSince = undefined;
          await this.deps.pushers.advance(id, row.streamOrdering);
        }
        if (rows.length === BATCH) s.again = true;
        if (!s.again) break;
      }
      if (s.again) retryIn = 0;
    } catch (err) {
      this.deps.log.warn("push delivery failed", { pusher: id, err: String(err) });
      retryIn = Math.min(this.deps.config.retry_initial_ms * 2 ** s.failures, this.deps.config.retry_max_ms);
      s.failures++;
    } finally {
      s.running = false;
      if (retryIn !== undefined && !this.closed && this.state.get(id) === s) {
        s.timer = setTimeout(() => void this.drain(id), retryIn);
        s.timer.unref?.();
      }
    }
  }

  /** One notification to one pusher's gateway. */
  private async deliver(pusher: Pusher, row: PushActionRow): Promise<"sent" | "failed" | "gone"> {
    const url = pusher.data.url;
    if (typeof url !== "string") return "sent";
    const body = await this.notificationBody(pusher, row);
    try {
      const answer = await this.deps.client.post(url, body);
      if (answer.status < 200 || answer.status >= 300) {
        this.deps.log.info("push gateway refused", { pusher: pusher.id, status: answer.status });
        // 4xx other than 429: the request will never succeed as it is; do not retry it.
        return answer.status >= 400 && answer.status < 500 && answer.status !== 429 ? "sent" : "failed";
      }
      const rejected = (answer.body as { rejected?: unknown } | undefined)?.rejected;
      if (Array.isArray(rejected) && rejected.includes(pusher.pushkey)) {
        await this.deps.pushers.delete(pusher.userId, pusher.appId, pusher.pushkey);
        this.deps.log.info("push gateway rejected a pushkey: pusher removed", { pusher: pusher.id });
        return "gone";
      }
      return "sent";
    } catch (err) {
      this.deps.log.info("push gateway unreachable", { pusher: pusher.id, err: String(err) });
      return "failed";
    }
  }

  private async notificationBody(pusher: Pusher, row: PushActionRow): Promise<JsonObject> {
    const { url: _url, ...data } = pusher.data;
    const device: JsonObject = {
      app_id: pusher.appId,
      pushkey: pusher.pushkey,
      pushkey_ts: Math.floor(pusher.pushkeyTs / 1000),
      data,
      tweaks: tweaksOf(row.actions) as JsonObject,
    };
    const unread = await this.unreadTotal(pusher.userId);
    const counts: JsonObject = unread > 0 ? { unread } : {};
    const stored = await this.deps.events.getEvent(row.eventId);
    const ev = stored?.event;
    const prio = ev && (ev.type === "m.room.message" || ev.type === "m.room.encrypted" || ev.type === "m.call.invite" || row.highlight) ? "high" : "low";
    const notification: JsonObject = { event_id: row.eventId, room_id: row.roomId, counts, prio, devices: [device] };
    if (pusher.data.format === "event_id_only" || !ev) return { notification };
    notification.type = ev.type;
    notification.sender = ev.sender;
    notification.content = ev.content as JsonValue;
    if (ev.type === "m.room.member" && ev.stateKey !== undefined) notification.user_is_target = ev.stateKey === pusher.userId;
    const state = await this.deps.states.currentState(row.roomId);
    const ids = [stateKey("m.room.member", ev.sender), stateKey("m.room.name", ""), stateKey("m.room.canonical_alias", "")]
      .map((k) => state.get(k));
    const got = await this.deps.events.getEvents(ids.filter((x): x is string => x !== undefined));
    const content = (i: number) => (ids[i] ? got.get(ids[i]!)?.event.content : undefined);
    const senderName = content(0)?.displayname;
    if (typeof senderName === "string" && senderName) notification.sender_display_name = senderName;
    const roomName = content(1)?.name;
    if (typeof roomName === "string" && roomName) notification.room_name = roomName;
    const alias = content(2)?.alias;
    if (typeof alias === "string" && alias) notification.room_alias = alias;
    return { notification };
  }

  private async unreadTotal(userId: string): Promise<number> {
    const rooms = await this.deps.joinedRooms(userId);
    let n = 0;
    for (const r of (await this.deps.actions.unread(userId, rooms, this.deps.eventStream.position)).values()) n += r.total.notification_count;
    return n;
  }
}
