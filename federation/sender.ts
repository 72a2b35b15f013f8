/**
 * The outbound queue: one per destination server. PDUs are queued in the
 * same transaction that commits the event (so an event is never committed
 * without being queued), EDUs when they happen; both wait in the database
 * until the destination acknowledges the transaction that carried them,
 * so neither a destination that is down nor a restart of ours loses any.
 * Each destination gets one transaction at a time, in queue order, of at
 * most 50 PDUs and 100 EDUs; a failure is retried with exponential backoff.
 */
import type { Knex } from "knex";
import type { ServerContext } from "../src/context.js";
import { serverNameOf } from "../src/room/identifiers.js";
import type { JsonObject, RoomEvent } from "../src/room/types.js";
import type { FederationClient } from "./client.js";

const MAX_PDUS = 50;
const MAX_EDUS = 100;

interface OutboxRow {
  id: number;
  kind: "pdu" | "edu";
  json: string;
}

interface DestinationState {
  running: boolean;
  /** The batch being offered, kept across retries so a retried transaction id always carries the same content. */
  inFlight?: { txnId: string; rows: OutboxRow[] };
  timer?: NodeJS.Timeout;
  retryAt: number;
  intervalMs: number;
}

export class FederationSender {
  private readonly destinations = new Map<string, DestinationState>();
  private readonly toWake = new Set<string>();
  private stopped = false;
  private paused = false;
  private txnCounter = 0;

  constructor(
    private readonly hs: ServerContext,
    private readonly client: FederationClient,
  ) {}

  /** Our joins made through another server's send_join: that server sends them on to the room (so do we, as resident). */
  private readonly deliveredByResident = new Set<string>();

  /** Say that this local event, about to be persisted, has reached the room through the server that took it (send_join). */
  deliveredElsewhere(eventId: string): void {
    this.deliveredByResident.add(eventId);
  }

  forgetDelivered(eventId: string): void {
    this.deliveredByResident.delete(eventId);
  }

  /** The persist hook: queue a local event for every other server in the room, in the event's transaction. */
  readonly queueEventInCommit = async (trx: Knex.Transaction, event: RoomEvent, accepted: boolean): Promise<void> => {
    if (this.deliveredByResident.delete(event.eventId)) return;
    if (!accepted || !this.hs.config.federation.enabled) return;
    if (serverNameOf(event.sender) !== this.hs.config.server_name) return;
    const servers = await this.serversInRoom(trx, event.roomId);
    // A member event also goes to its subject's server (an invite, or a kick of someone whose server then leaves).
    if (event.type === "m.room.member" && event.stateKey) {
      const s = serverNameOf(event.stateKey);
      if (s) servers.add(s);
    }
    servers.delete(this.hs.config.server_name);
    if (servers.size === 0) return;
    const json = JSON.stringify(event.pdu);
    const now = Date.now();
    await trx("federation_outbox").insert([...servers].map((destination) => ({ destination, kind: "pdu", json, created_ts: now })));
    // Sending starts after the commit, when the rows are visible (afterPersist); a rollback leaves nothing to send.
    for (const d of servers) this.toWake.add(d);
  };

  /**
   * As the resident server of a send_join, send_leave or send_knock: pass
   * the accepted event on to every other server in the room (the origin has
   * it, and has nobody else to hear it from).
   */
  async relay(event: RoomEvent, origin: string): Promise<void> {
    if (!this.hs.config.federation.enabled) return;
    const servers = await this.serversInRoom(undefined, event.roomId);
    servers.delete(this.hs.config.server_name);
    servers.delete(origin);
    if (servers.size === 0) return;
    const json = JSON.stringify(event.pdu);
    const now = Date.now();
    await this.hs.db.knex("federation_outbox").insert([...servers].map((destination) => ({ destination, kind: "pdu", json, created_ts: now })));
    for (const d of servers) this.wake(d);
  }

  /** The persist listener (after commit): start sending what the commit queued. */
  readonly afterPersist = (): void => {
    const wake = [...this.toWake];
    this.toWake.clear();
    for (const d of wake) this.wake(d);
  };

  /** Queue an EDU for destinations (typing, receipts, device lists, to-device). */
  async queueEdu(destinations: Iterable<string>, eduType: string, content: JsonObject): Promise<void> {
    const targets = [...new Set(destinations)].filter((d) => d !== this.hs.config.server_name);
    if (targets.length === 0 || !this.hs.config.federation.enabled) return;
    const json = JSON.stringify({ edu_type: eduType, content });
    const now = Date.now();
    await this.hs.db.knex("federation_outbox").insert(targets.map((destination) => ({ destination, kind: "edu", json, created_ts: now })));
    for (const d of targets) this.wake(d);
  }

  /** The servers with a joined member in the room. */
  async serversInRoom(trx: Knex | undefined, roomId: string): Promise<Set<string>> {
    const rows: { user_id: string }[] = await (trx ?? this.hs.db.knex)("room_memberships").where({ room_id: roomId, membership: "join" }).select("user_id");
    const out = new Set<string>();
    for (const r of rows) {
      const s = serverNameOf(r.user_id);
      if (s) out.add(s);
    }
    return out;
  }

  /** After a restart: resume every destination with something queued, respecting its backoff. */
  async start(): Promise<void> {
    const rows: { destination: string }[] = await this.hs.db.knex("federation_outbox").distinct("destination");
    const backoff: { destination: string; retry_at_ts: number | string | null; retry_interval_ms: number | string }[] =
      await this.hs.db.knex("federation_destinations").select("*");
    for (const b of backoff) {
      this.destinations.set(b.destination, { running: false, retryAt: Number(b.retry_at_ts ?? 0), intervalMs: Number(b.retry_interval_ms) });
    }
    for (const r of rows) this.wake(r.destination);
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.destinations.values()) clearTimeout(d.timer);
  }

  /** Hold outbound delivery (everything stays queued), e.g. for maintenance of a peer link; resume() sends it all. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const destination of this.destinations.keys()) this.wake(destination);
  }

  /** Someone heard from this destination: it is up, so stop waiting out its backoff. */
  markAlive(destination: string): void {
    const d = this.destinations.get(destination);
    if (d && d.retryAt > Date.now()) {
      d.retryAt = 0;
      d.intervalMs = 0;
      this.wake(destination);
    }
  }

  wake(destination: string): void {
    if (this.stopped) return;
    let d = this.destinations.get(destination);
    if (!d) this.destinations.set(destination, (d = { running: false, retryAt: 0, intervalMs: 0 }));
    if (this.paused) return;
    if (d.running) {
      d.timer ??= setTimeout(() => this.wakeLater(destination), 0);
      return;
    }
    const wait = d.retryAt - Date.now();
    if (wait > 0) {
      clearTimeout(d.timer);
      d.timer = setTimeout(() => this.wakeLater(destination), wait);
      d.timer.unref?.();
      return;
    }
    d.running = true;
    this.drain(destination, d)
      .catch((err) => {
        // After stop() the database may be closed under a transaction that was in flight: it stays queued and goes after the restart.
        if (!this.stopped) this.hs.log.warn("federation delivery failed", { destination, err: String((err as Error)?.message ?? err) });
      })
      .finally(() => {
        d!.running = false;
      });
  }

  private wakeLater(destination: string): void {
    const d = this.destinations.get(destination);
    if (d) d.timer = undefined;
    this.wake(destination);
  }

  private async drain(destination: string, d: DestinationState): Promise<void> {
    while (!this.stopped && !this.paused) {
      if (!d.inFlight) {
        const rows: OutboxRow[] = (await this.hs.db.knex("federation_outbox")
          .where({ destination })
          .orderBy("id")
          .limit(MAX_PDUS + MAX_EDUS)
          .select("id", "kind", "json")).map((r: OutboxRow) => ({ ...r, id: Number(r.id) }));
        const batch: OutboxRow[] = [];
        let pdus = 0;
        let edus = 0;
        // In queue order, stopping at the first row that does not fit, so nothing overtakes anything.
        for (const r of rows) {
          if (r.kind === "pdu" ? pdus === MAX_PDUS : edus === MAX_EDUS) break;
          if (r.kind === "pdu") pdus++;
          else edus++;
          batch.push(r);
        }
        if (batch.length === 0) return;
        d.inFlight = { txnId: `${Date.now()}.${++this.txnCounter}`, rows: batch };
      }
      const { txnId, rows } = d.inFlight;
      const body = {
        origin: this.hs.config.server_name,
        origin_server_ts: Date.now(),
        pdus: rows.filter((r) => r.kind === "pdu").map((r) => JSON.parse(r.json)),
        edus: rows.filter((r) => r.kind === "edu").map((r) => JSON.parse(r.json)),
      };
      try {
        await this.client.request(destination, "PUT", `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, { body });
      } catch (err) {
        await this.backOff(destination, d, err);
        return;
      }
      await this.hs.db.knex("federation_outbox").whereIn("id", rows.map((r) => r.id)).del();
      d.inFlight = undefined;
      if (d.intervalMs !== 0) {
        d.intervalMs = 0;
        d.retryAt = 0;
        await this.hs.db.knex("federation_destinations").where({ destination }).del();
      }
    }
  }

  private async backOff(destination: string, d: DestinationState, err: unknown): Promise<void> {
    const fed = this.hs.config.federation;
    d.intervalMs = Math.min(fed.retry_max_ms, d.intervalMs === 0 ? fed.retry_initial_ms : d.intervalMs * 2);
    d.retryAt = Date.now() + d.intervalMs;
    this.hs.log.info("federation transaction failed; will retry", { destination, retry_in_ms: d.intervalMs, err: String((err as Error)?.message ?? err) });
    await this.hs.db.knex("federation_destinations")
      .insert({ destination, retry_at_ts: d.retryAt, retry_interval_ms: d.intervalMs })
      .onConflict("destination")
      .merge(["retry_at_ts", "retry_interval_ms"])
      .catch(() => undefined);
    if (this.stopped) return;
    clearTimeout(d.timer);
    d.timer = setTimeout(() => this.wakeLater(destination), d.intervalMs);
    d.timer.unref?.();
  }
}
