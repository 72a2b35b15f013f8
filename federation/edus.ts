/**
 * What our users do that other servers in their rooms must hear of but
 * that is not part of any room's history: typing, public read receipts,
 * presence, and changes to their devices and cross-signing keys. Each becomes an EDU in the queues of the
 * servers concerned.
 */
import type { ServerContext } from "../src/context.js";
import { serverNameOf } from "../src/room/identifiers.js";
import type { JsonObject } from "../src/room/types.js";
import type { FederationSender } from "./sender.js";

export function queueEphemeralEdus(hs: ServerContext, sender: FederationSender): void {
  const ours = (userId: string) => serverNameOf(userId) === hs.config.server_name;
  const fail = (what: string) => (err: unknown) => hs.log.warn(`could not queue ${what}`, { err: String(err) });
  /** The other servers with a user in a room our user is joined to: who hears of that user's presence and devices. */
  const serversSharingRoomsWith = async (userId: string): Promise<Set<string>> => {
    const servers = new Set<string>();
    for (const roomId of await hs.states.roomsForUser(userId, "join")) for (const s of await sender.serversInRoom(undefined, roomId)) servers.add(s);
    servers.delete(hs.config.server_name);
    return servers;
  };

  hs.typing.onNotice((roomId, userId, typing, timeoutMs) => {
    if (!ours(userId)) return;
    sender.serversInRoom(undefined, roomId)
      .then((servers) => sender.queueEdu(servers, "m.typing", { room_id: roomId, user_id: userId, typing, ...(typing ? { timeout: timeoutMs } : {}) }))
      .catch(fail("a typing notice"));
  });

  hs.receipts.listen((roomId, r) => {
    // Private receipts stay on this server.
    if (!ours(r.userId) || r.receiptType !== "m.read") return;
    const data: JsonObject = { ts: r.ts };
    if (r.threadId !== undefined) data.thread_id = r.threadId;
    const content = { [roomId]: { "m.read": { [r.userId]: { event_ids: [r.eventId], data } } } };
    sender.serversInRoom(undefined, roomId).then((servers) => sender.queueEdu(servers, "m.receipt", content)).catch(fail("a receipt"));
  });

  // Presence goes to every server sharing a room with the user; a change is rare (online, away, offline), not every request.
  hs.presence.listen((userId) => {
    if (!ours(userId)) return;
    void (async () => {
      const servers = await serversSharingRoomsWith(userId);
      if (servers.size === 0) return;
      const content = hs.presence.content(hs.presence.get(userId));
      await sender.queueEdu(servers, "m.presence", { push: [{ user_id: userId, ...content }] });
    })().catch(fail("a presence change"));
  });

  hs.deviceLists.listen((userId) => {
    if (!ours(userId)) return;
    void (async () => {
      const servers = await serversSharingRoomsWith(userId);
      if (servers.size === 0) return;
      // Cross-signing keys travel as their own EDU (the user-signing key never leaves this server).
      const crossSigning = (await hs.e2eKeys.crossSigningKeys([userId])).get(userId);
      if (crossSigning?.has("master") || crossSigning?.has("self_signing")) {
        await sender.queueEdu(servers, "m.signing_key_update", {
          user_id: userId,
          ...(crossSigning.has("master") ? { master_key: crossSigning.get("master")! } : {}),
          ...(crossSigning.has("self_signing") ? { self_signing_key: crossSigning.get("self_signing")! } : {}),
        });
      }
      // The receivers re-fetch the user's devices; one update per current device carries its keys.
      const devices = await hs.accounts.devices(userId);
      const streamId = hs.deviceLists.stream.position;
      if (devices.length === 0) {
        await sender.queueEdu(servers, "m.device_list_update", { user_id: userId, device_id: "", stream_id: streamId, prev_id: [], deleted: true });
        return;
      }
      for (const d of devices.slice(0, 20)) {
        const keys = await hs.e2eKeys.deviceKeys(userId, d.deviceId);
        await sender.queueEdu(servers, "m.device_list_update", {
          user_id: userId, device_id: d.deviceId, stream_id: streamId, prev_id: [], deleted: false,
          ...(d.displayName ? { device_display_name: d.displayName } : {}),
          ...(keys ? { keys } : {}),
        });
      }
    })().catch(fail("a device list update"));
  });
}
