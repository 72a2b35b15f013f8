/**
 * Inbound transactions (PUT /send/{txnId}): up to 50 PDUs and 100 EDUs
 * from one server. Each PDU goes through RemoteEvents and is committed
 * before the 200 goes back; the answer is remembered per origin and
 * transaction id, so a retried transaction changes nothing and gets the
 * same answer. EDUs carry typing, receipts, presence, device-list changes
 * and to-device messages; each is accepted only for the origin's own users.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { BadSignatureError } from "../src/engine/remote-events.js";
import { MatrixError, badJson } from "../src/http/errors.js";
import { serverNameOf } from "../src/room/identifiers.js";
import type { JsonObject, PDU } from "../src/room/types.js";
import { getRoomVersion } from "../src/room/versions.js";
import { authenticate, serverAllowedByAcl } from "./inbound-auth.js";
import { eventIdOf } from "./remote-servers.js";
import type { KeyRing } from "./key-ring.js";
import { stateKey } from "../src/room/types.js";
import { PRESENCE_STATES, type PresenceState } from "../src/ephemeral/presence.js";

const MAX_PDUS = 50;
const MAX_EDUS = 100;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function registerTransactions(router: Router, hs: ServerContext, keys: KeyRing, onHeardFrom: (origin: string) => void): void {
  router.put("/_matrix/federation/v1/send/:txnId", async (ctx) => {
    const { origin, body } = await authenticate(ctx, hs, keys);
    const txnId = ctx.params.txnId;
    onHeardFrom(origin);
    const done = await hs.db.knex("federation_inbound_txns").where({ origin, txn_id: txnId }).first("response");
    if (done) {
      ctx.body = JSON.parse(done.response);
      return;
    }
    const pdus = body.pdus ?? [];
    const edus = body.edus ?? [];
    if (!Array.isArray(pdus) || !Array.isArray(edus)) throw badJson("pdus and edus must be lists");
    if (pdus.length > MAX_PDUS || edus.length > MAX_EDUS) throw new MatrixError(400, "M_BAD_JSON", `At most ${MAX_PDUS} PDUs and ${MAX_EDUS} EDUs per transaction`);

    const results: Record<string, JsonObject> = {};
    for (const raw of pdus) {
      if (!isObject(raw)) continue;
      const pdu = raw as unknown as PDU;
      const roomId = typeof pdu.room_id === "string" ? pdu.room_id : undefined;
      const version = roomId === undefined ? undefined : await hs.rooms.version(roomId);
      const rules = version === undefined ? undefined : getRoomVersion(version);
      if (!rules || !roomId) continue; // a room we are not in: nothing to do with it
      // From room version 3 a PDU carries no event_id: the answer is keyed by the id it hashes to.
      const id = typeof pdu.event_id === "string" ? pdu.event_id : eventIdOf(pdu, rules) || undefined;
      try {
        if (!(await aclAllows(hs, roomId, origin))) throw new Error("server is banned by the room's ACL");
        // An invite of ours rescinded (or a knock refused) in a room we hold no state for: nothing to authorise it against.
        const checked = await hs.remoteEvents.check(pdu, rules);
        if (serverNameOf(checked.stateKey ?? "") === hs.config.server_name && (await hs.remoteInvites.endsPendingMembership(checked))) {
          await hs.remoteInvites.retract(checked);
          results[checked.eventId] = {};
          continue;
        }
        const r = await hs.remoteEvents.receive(origin, pdu, rules);
        results[r.event.eventId] = r.outcome === "rejected" ? { error: "rejected by the authorisation rules" } : {};
      } catch (err) {
        const why = err instanceof BadSignatureError ? `bad signature: ${err.message}` : String((err as Error)?.message ?? err);
        hs.log.info("dropped a PDU", { origin, room_id: roomId, err: why });
        if (id) results[id] = { error: why };
      }
    }
    for (const edu of edus) {
      if (!isObject(edu) || typeof edu.edu_type !== "string" || !isObject(edu.content)) continue;
      try {
        await receiveEdu(hs, origin, edu.edu_type, edu.content);
      } catch (err) {
        hs.log.info("ignored an EDU", { origin, type: edu.edu_type, err: String(err) });
      }
    }
    const response = { pdus: results };
    await hs.db.knex("federation_inbound_txns")
      .insert({ origin, txn_id: txnId, response: JSON.stringify(response), received_ts: Date.now() })
      .onConflict(["origin", "txn_id"])
      .ignore();
    ctx.body = response;
  });
}

async function aclAllows(hs: ServerContext, roomId: string, origin: string): Promise<boolean> {
  const id = (await hs.states.currentState(roomId)).get(stateKey("m.room.server_acl", ""));
  if (id === undefined) return true;
  const acl = (await hs.events.getEvent(id))?.event.content;
  return !acl || serverAllowedByAcl(acl, origin);
}

/** One EDU from `origin`; anything about users of another server is ignored. */
async function receiveEdu(hs: ServerContext, origin: string, type: string, content: JsonObject): Promise<void> {
  const ours = (userId: unknown): userId is string => typeof userId === "string" && serverNameOf(userId) === origin;
  const joined = async (roomId: string, userId: string) => (await hs.states.membershipOf(roomId, userId)) === "join";
  switch (type) {
    case "m.typing": {
      const { room_id, user_id, typing } = content;
      if (typeof room_id !== "string" || !ours(user_id) || !(await joined(room_id, user_id)) || !(await aclAllows(hs, room_id, origin))) return;
      hs.typing.setTyping(room_id, user_id, typing === true, 30_000);
      return;
    }
    case "m.receipt": {
      for (const [roomId, byType] of Object.entries(content)) {
        if (!isObject(byType) || !(await aclAllows(hs, roomId, origin))) continue;
        const read = byType["m.read"];
        if (!isObject(read)) continue;
        for (const [userId, r] of Object.entries(read)) {
          if (!ours(userId) || !isObject(r) || !Array.isArray(r.event_ids) || !(await joined(roomId, userId))) continue;
          const eventId = r.event_ids.find((e): e is string => typeof e === "string");
          const data = isObject(r.data) ? r.data : {};
          if (!eventId) continue;
          const stored = await hs.events.getEvent(eventId);
          if (!stored || stored.event.roomId !== roomId) continue;
          const orderOf = async (id: string) => (await hs.events.getEvent(id))?.streamOrdering ?? null;
          await hs.receipts.put({
            roomId, receiptType: "m.read", userId, eventId,
            threadId: typeof data.thread_id === "string" ? data.thread_id : undefined,
            ts: typeof data.ts === "number" ? data.ts : Date.now(),
          }, orderOf);
        }
      }
      return;
    }
    case "m.device_list_update":
    case "m.signing_key_update": {
      if (ours(content.user_id)) await hs.deviceLists.record(content.user_id);
      return;
    }
    case "m.direct_to_device": {
      const { sender, message_id, messages } = content;
      if (!ours(sender) || typeof content.type !== "string" || !isObject(messages)) return;
      const queued = [];
      for (const [userId, devices] of Object.entries(messages)) {
        if (serverNameOf(userId) !== hs.config.server_name || !isObject(devices)) continue;
        for (const [deviceId, msg] of Object.entries(devices)) {
          if (!isObject(msg)) continue;
          const ids = deviceId === "*" ? (await hs.accounts.devices(userId)).map((d) => d.deviceId) : [deviceId];
          for (const d of ids) queued.push({ userId, deviceId: d, sender, type: content.type, content: msg });
        }
      }
      // The message id makes a resent EDU (a retried transaction that was in fact received) a no-op.
      await hs.toDevice.send(sender, `federation:${origin}`, typeof message_id === "string" ? message_id : null, queued);
      return;
    }
    case "m.presence": {
      if (!Array.isArray(content.push)) return;
      for (const p of content.push) {
        if (!isObject(p) || !ours(p.user_id) || typeof p.presence !== "string" || !PRESENCE_STATES.has(p.presence)) continue;
        const ago = typeof p.last_active_ago === "number" && p.last_active_ago >= 0 ? p.last_active_ago : undefined;
        hs.presence.set(p.user_id, p.presence as PresenceState, typeof p.status_msg === "string" ? p.status_msg : undefined, ago);
      }
      return;
    }
    default:
      // Unknown EDUs: accepted and ignored.
      return;
  }
}
