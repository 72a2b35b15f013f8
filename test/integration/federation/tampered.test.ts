/**
 * What a server does with PDUs that were changed after signing (server-
 * server API: checks performed on receipt of a PDU). B builds real events
 * in a room it shares with A, then alters them before sending them to A
 * in a signed transaction:
 * - content changed after signing: the signature still verifies (it covers
 *   the redacted event) but the content hash does not, so A keeps the event
 *   redacted;
 * - a signed field changed, or a signature by a key B never published: the
 *   signature fails, so A drops the event and stores nothing.
 * An untouched event from the same batch is accepted, so the refusals are
 * about the tampering and nothing else.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../../support/federation.js";
import type { Registered } from "../../support/http.js";
import { signEvent, toRoomEvent } from "../../../src/room/event.js";
import { generateSigningKey } from "../../../src/crypto/keys.js";
import type { PDU } from "../../../src/room/types.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

for (const engine of ENGINES) {
  describe(`tampered PDUs on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    let ann: Registered;
    let bob: Registered;
    let roomId: string;

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2);
      ann = await a.http.register("ann");
      bob = await b.http.register("bob");
      const created = await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat" }, ann.access_token);
      roomId = created.body.room_id;
      const joined = await b.http.call("POST", `${V3}/join/${enc(roomId)}?server_name=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
    });
    after(async () => stopFederatedServers([a, b]));

    /** A message from bob built (and signed) by B on top of B's extremities, not persisted anywhere. */
    async function bobSays(body: string): Promise<{ pdu: PDU; rules: Parameters<typeof signEvent>[3] }> {
      const ctx = b.server.context;
      const rules = await ctx.localEvents.rulesOf(roomId);
      const prevs = await ctx.events.forwardExtremities(roomId);
      const { event } = await ctx.localEvents.prepare(rules, roomId, { type: "m.room.message", sender: bob.user_id, content: { msgtype: "m.text", body } }, prevs);
      return { pdu: event.pdu, rules };
    }

    async function sendToA(txnId: string, pdus: PDU[]): Promise<Record<string, { error?: string }>> {
      const body = { origin: b.name, origin_server_ts: Date.now(), pdus };
      const r = await b.server.federation.client.request<{ pdus: Record<string, { error?: string }> }>(a.name, "PUT", `/_matrix/federation/v1/send/${txnId}`, { body });
      return r.pdus;
    }

    const storedOnA = (eventId: string) => a.server.context.db.knex("events").where({ event_id: eventId }).first();

    it("keeps an event whose content changed after signing, redacted", async () => {
      const { pdu, rules } = await bobSays("the real words");
      const tampered = { ...pdu, content: { msgtype: "m.text", body: "words put in bob's mouth" } } as PDU;
      const id = toRoomEvent(tampered, rules).eventId; // the reference hash covers only the redacted form
      assert.equal(id, toRoomEvent(pdu, rules).eventId);
      const results = await sendToA("tamper-content", [tampered]);
      assert.deepEqual(results[id], {});
      const got = await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/event/${enc(id)}`, undefined, ann.access_token);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.content, {}, "the altered words never reach a client");
    });

    it("drops an event whose signed fields changed, or that a stranger's key signed, and stores nothing", async () => {
      const honest = await bobSays("an honest message");
      const resigned = await bobSays("signed by a key B never published");
      const retimed = await bobSays("sent at another time");

      // A field the signature covers, changed after signing: a new event id, and a signature that fails.
      const altered = { ...retimed.pdu, origin_server_ts: retimed.pdu.origin_server_ts + 1 } as PDU;
      // Signed over again by a key with B's key id that B never published.
      const impostor = { ...generateSigningKey(), keyId: b.server.context.signingKey.keyId };
      const { signatures: _drop, ...unsignedPdu } = resigned.pdu;
      const forged = signEvent(unsignedPdu as PDU, b.name, impostor, resigned.rules);

      const ids = {
        honest: toRoomEvent(honest.pdu, honest.rules).eventId,
        altered: toRoomEvent(altered, retimed.rules).eventId,
        forged: toRoomEvent(forged, resigned.rules).eventId,
      };
      const results = await sendToA("tamper-signature", [altered, forged, honest.pdu]);
      assert.match(results[ids.altered]?.error ?? "", /signature/);
      assert.match(results[ids.forged]?.error ?? "", /signature/);
      assert.deepEqual(results[ids.honest], {});

      assert.equal(await storedOnA(ids.altered), undefined);
      assert.equal(await storedOnA(ids.forged), undefined);
      assert.ok(await storedOnA(ids.honest));
      const messages = await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=50`, undefined, ann.access_token);
      const bodies = (messages.body.chunk as Array<{ content: { body?: string } }>).map((e) => e.content.body).filter(Boolean);
      assert.ok(bodies.includes("an honest message"));
      assert.ok(!bodies.includes("sent at another time"));
      assert.ok(!bodies.includes("signed by a key B never published"));
    });

    it("answers a retried transaction the same way without storing anything twice", async () => {
      const { pdu, rules } = await bobSays("said once");
      const id = toRoomEvent(pdu, rules).eventId;
      const first = await sendToA("retry-me", [pdu]);
      const again = await sendToA("retry-me", [pdu]);
      assert.deepEqual(again, first);
      const rows = await a.server.context.db.knex("events").where({ event_id: id }).count({ n: "*" }).first();
      assert.equal(Number(rows?.n), 1);
    });
  });
}
