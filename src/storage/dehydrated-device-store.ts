/** Each user's dehydrated device, if any (migration 0017): its id and the client's opaque device_data. */
import type { Knex } from "knex";
import type { JsonObject } from "../room/types.js";
import type { Database } from "./database.js";

export interface DehydratedDevice {
  readonly deviceId: string;
  readonly deviceData: JsonObject;
}

export class DehydratedDeviceStore {
  constructor(private readonly db: Database) {}

  async get(userId: string): Promise<DehydratedDevice | undefined> {
    const row = await this.db.knex("dehydrated_devices").where({ user_id: userId }).first("device_id", "device_data");
    return row ? { deviceId: row.device_id, deviceData: JSON.parse(row.device_data) as JsonObject } : undefined;
  }

  async put(trx: Knex, userId: string, device: DehydratedDevice): Promise<void> {
    await trx("dehydrated_devices").where({ user_id: userId }).del();
    await trx("dehydrated_devices").insert({ user_id: userId, device_id: device.deviceId, device_data: JSON.stringify(device.deviceData), created_ts: Date.now() });
  }

  /** Called when devices go (any way a device goes): the dehydrated one goes with its device row. */
  async deleteForDevices(trx: Knex, userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length) await trx("dehydrated_devices").where({ user_id: userId }).whereIn("device_id", [...deviceIds]).del();
  }
}
