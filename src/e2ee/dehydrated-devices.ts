/**
 * Dehydrated devices (MSC3814 v2, the version Element and matrix-js-sdk's
 * Rust crypto use). A client keeps one device of its user "offline but
 * reachable": it uploads the device's keys and its encrypted state, other
 * clients encrypt to it like any device, and a later login downloads the
 * state, decrypts it with a key from secret storage, and reads the
 * to-device messages that waited for it (the room keys of conversations
 * held while no device of the user was online).
 *
 * The server never sees inside device_data. Replacing a dehydrated device
 * removes the old one the way every device goes (its keys and messages
 * with it, and a device-list change for contacts).
 */
import type { ServerContext } from "../context.js";
import { MatrixError, badJson, forbidden, notFound } from "../http/errors.js";
import type { JsonObject } from "../room/types.js";
import { checkDeviceKeys, checkOneTimeKeys } from "./key-objects.js";
import { KeyDirectory } from "./keys.js";

/** How many waiting messages one /events page returns. */
const EVENTS_PAGE = 100;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class DehydratedDevices {
  private readonly keys: KeyDirectory;

  constructor(private readonly hs: ServerContext) {
    this.keys = new KeyDirectory(hs);
  }

  /** PUT /dehydrated_device: the user's new dehydrated device, replacing any earlier one. */
  async replace(userId: string, body: JsonObject): Promise<{ device_id: string }> {
    const deviceId = body.device_id;
    if (typeof deviceId !== "string" || deviceId === "" || deviceId.length > 255) throw badJson("device_id must be a non-empty string");
    const deviceData = body.device_data;
    if (!isObject(deviceData) || typeof deviceData.algorithm !== "string") throw badJson("device_data must be an object with an algorithm");
    const name = body.initial_device_display_name;
    if (name !== undefined && typeof name !== "string") throw badJson("initial_device_display_name must be a string");
    // The keys are checked before anything changes, so a bad upload keeps the old dehydrated device.
    const ed25519 = body.device_keys === undefined ? undefined : checkDeviceKeys(body.device_keys, userId, deviceId);
    checkOneTimeKeys(body.one_time_keys, "one_time_keys", userId, deviceId, ed25519);
    checkOneTimeKeys(body.fallback_keys, "fallback_keys", userId, deviceId, ed25519);

    const old = await this.hs.dehydratedDevices.get(userId);
    const inUse = () => new MatrixError(400, "M_INVALID_PARAM", "You already have a device with that id");
    if (old?.deviceId !== deviceId && (await this.hs.accounts.device(userId, deviceId))) throw inUse();
    if (old) await this.hs.accounts.deleteDevices(userId, [old.deviceId]);
    const created = await this.hs.accounts.createDeviceWithoutSession(userId, deviceId, name ?? null, (trx) =>
      this.hs.dehydratedDevices.put(trx, userId, { deviceId, deviceData }),
    );
    if (!created) throw inUse(); // taken a moment ago by a login
    const keys: JsonObject = {};
    for (const k of ["device_keys", "one_time_keys", "fallback_keys"] as const) if (body[k] !== undefined) keys[k] = body[k] as JsonObject;
    try {
      await this.keys.upload(userId, deviceId, keys);
    } catch (err) {
      await this.hs.accounts.deleteDevices(userId, [deviceId]);
      throw err;
    }
    return { device_id: deviceId };
  }

  async get(userId: string): Promise<{ device_id: string; device_data: JsonObject }> {
    const d = await this.hs.dehydratedDevices.get(userId);
    if (!d) throw notFound("No dehydrated device");
    return { device_id: d.deviceId, device_data: d.deviceData };
  }

  async delete(userId: string): Promise<{ device_id: string }> {
    const d = await this.hs.dehydratedDevices.get(userId);
    if (!d) throw notFound("No dehydrated device");
    await this.hs.accounts.deleteDevices(userId, [d.deviceId]);
    return { device_id: d.deviceId };
  }

  /**
   * POST /dehydrated_device/{deviceId}/events: the messages waiting for the
   * dehydrated device, a page at a time. Asking with a next_batch says the
   * client has everything before it, which is then deleted (as /sync does).
   */
  async events(userId: string, deviceId: string, body: JsonObject): Promise<{ events: JsonObject[]; next_batch: string }> {
    const d = await this.hs.dehydratedDevices.get(userId);
    if (!d || d.deviceId !== deviceId) throw forbidden("That is not your dehydrated device");
    let after = 0;
    if (body.next_batch !== undefined) {
      if (typeof body.next_batch !== "string" || !/^\d{1,15}$/.test(body.next_batch)) throw new MatrixError(400, "M_INVALID_PARAM", "Unknown next_batch");
      after = Number(body.next_batch);
    }
    const page = await this.hs.toDevice.deliver(userId, deviceId, after, EVENTS_PAGE);
    return { events: page.events, next_batch: String(page.position) };
  }
}
