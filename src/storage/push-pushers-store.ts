/**
 * Pushers (migrations/0011_push.ts): per user, app id and pushkey, where
 * to send notifications and how far they have been delivered. A set
 * without `append` takes the app id and pushkey from every other user.
 * A pusher belongs to the device that set it: when the device goes
 * (logout, deletion, deactivation), its pushers go in the same transaction.
 */
import type { Knex } from "knex";
import type { JsonObject } from "../room/types.js";
import type { Database } from "./database.js";

export interface Pusher {
  readonly id: number;
  readonly userId: string;
  readonly appId: string;
  readonly pushkey: string;
  readonly kind: string;
  readonly appDisplayName: string;
  readonly deviceDisplayName: string;
  readonly profileTag?: string;
  readonly lang: string;
  readonly data: JsonObject;
  /** Milliseconds; the gateway is told seconds. */
  readonly pushkeyTs: number;
  /** Notifications up to this stream position have been delivered (or given up on). */
  readonly lastStreamOrdering: number;
}

export type PusherSettings = Omit<Pusher, "id" | "pushkeyTs" | "lastStreamOrdering"> & { readonly deviceId: string };

interface Row {
  id: number;
  user_id: string;
  app_id: string;
  pushkey: string;
  kind: string;
  app_display_name: string;
  device_display_name: string;
  profile_tag: string | null;
  lang: string;
  data: string;
  pushkey_ts: number | string;
  last_stream_ordering: number | string;
}

export class PushersStore {
  private readonly listeners: Array<(userId: string) => void> = [];
  /** Users with at least one pusher: most users have none, and their events skip the delivery path. */
  private withPushers: Set<string> | undefined;

  constructor(private readonly db: Database) {}

  /** Called after each committed change with the user concerned. */
  listen(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  async usersWithPushers(): Promise<ReadonlySet<string>> {
    if (!this.withPushers) {
      const rows: { user_id: string }[] = await this.db.knex("pushers").distinct("user_id");
      this.withPushers = new Set(rows.map((r) => r.user_id));
    }
    return this.withPushers;
  }

  async forUser(userId: string): Promise<Pusher[]> {
    const rows: Row[] = await this.db.knex("pushers").where({ user_id: userId }).orderBy("id").select("*");
    return rows.map(pusherOf);
  }

  async get(id: number): Promise<Pusher | undefined> {
    const row: Row | undefined = await this.db.knex("pushers").where({ id }).first("*");
    return row ? pusherOf(row) : undefined;
  }

  async all(): Promise<Pusher[]> {
    const rows: Row[] = await this.db.knex("pushers").orderBy("id").select("*");
    return rows.map(pusherOf);
  }

  /**
   * Create or update the pusher (user, app id, pushkey). A new pusher starts
   * at `startAt` (the current event position: nothing from before it is
   * pushed). Without `append`, the same app id and pushkey of other users go.
   */
  async set(p: PusherSettings, append: boolean, startAt: number): Promise<void> {
    const removedUsers: string[] = [];
    await this.db.knex.transaction(async (trx) => {
      if (!append) {
        const others: { user_id: string }[] = await trx("pushers").where({ app_id: p.appId, pushkey: p.pushkey }).whereNot({ user_id: p.userId }).select("user_id");
        removedUsers.push(...others.map((o) => o.user_id));
        await trx("pushers").where({ app_id: p.appId, pushkey: p.pushkey }).whereNot({ user_id: p.userId }).del();
      }
      const values = {
        device_id: p.deviceId,
        kind: p.kind, app_display_name: p.appDisplayName, device_display_name: p.deviceDisplayName,
        profile_tag: p.profileTag ?? null, lang: p.lang, data: JSON.stringify(p.data),
      };
      const existing = await trx("pushers").where({ user_id: p.userId, app_id: p.appId, pushkey: p.pushkey }).first("id");
      if (existing) {
        await trx("pushers").where({ id: existing.id }).update(values);
      } else {
        await trx("pushers").insert({
          ...values, user_id: p.userId, app_id: p.appId, pushkey: p.pushkey, pushkey_ts: Date.now(), last_stream_ordering: startAt,
        });
      }
    });
    this.withPushers = undefined;
    for (const u of [p.userId, ...removedUsers]) for (const l of this.listeners) l(u);
  }

  /** Delete the user's pusher (app id, pushkey); whether there was one. */
  async delete(userId: string, appId: string, pushkey: string): Promise<boolean> {
    const n = await this.db.knex("pushers").where({ user_id: userId, app_id: appId, pushkey }).del();
    this.withPushers = undefined;
    if (n > 0) for (const l of this.listeners) l(userId);
    return n > 0;
  }

  /** Inside a device removal's transaction: the pushers those devices set. */
  async deleteForDevices(trx: Knex, userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await trx("pushers").where({ user_id: userId }).whereIn("device_id", [...deviceIds]).del();
    this.withPushers = undefined;
  }

  /** Delivery reached `ordering` for this pusher (never moves back). */
  async advance(id: number, ordering: number): Promise<void> {
    await this.db.knex("pushers").where({ id }).where("last_stream_ordering", "<", ordering).update({ last_stream_ordering: ordering });
  }
}

function pusherOf(r: Row): Pusher {
  return {
    id: Number(r.id),
    userId: r.user_id,
    appId: r.app_id,
    pushkey: r.pushkey,
    kind: r.kind,
    appDisplayName: r.app_display_name,
    deviceDisplayName: r.device_display_name,
    profileTag: r.profile_tag ?? undefined,
    lang: r.lang,
    data: JSON.parse(r.data) as JsonObject,
    pushkeyTs: Number(r.pushkey_ts),
    lastStreamOrdering: Number(r.last_stream_ordering),
  };
}
