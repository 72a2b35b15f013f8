/**
 * End-to-end encryption across two of our servers, with matrix-js-sdk's
 * Rust crypto on each side: device lists, key queries and one-time key
 * claims go over federation, room keys travel as to-device messages in
 * federation transactions, and each side decrypts the other.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../../support/federation.js";
import { decryptedBodies, registerClient, sdk, started, until, type Client } from "../../support/js-sdk.js";

for (const engine of ENGINES) {
  describe(`encryption across servers on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    const clients: Client[] = [];

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2);
    });
    after(async () => {
      for (const c of clients) c.stopClient();
      await stopFederatedServers([a, b]);
    });

    it("lets two users on two servers talk in an encrypted room", { timeout: 120_000 }, async () => {
      const alice = await registerClient(a.server.url, "alice");
      const bob = await registerClient(b.server.url, "bob");
      clients.push(alice, bob);
      for (const c of [alice, bob]) {
        await c.initRustCrypto({ useIndexedDB: false });
        await started(c);
      }
      const { room_id: roomId } = await alice.createRoom({
        preset: sdk.Preset.PrivateChat,
        invite: [bob.getUserId()!],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
      });
      await until("bob's invite over federation", () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite, 20_000);
      await bob.joinRoom(roomId);
      await until("alice to see bob join", () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join", 20_000);

      await until("alice to know the room is encrypted", async () => alice.getCrypto()!.isEncryptionEnabledInRoom(roomId), 20_000);
      await until("bob to know the room is encrypted", async () => bob.getCrypto()!.isEncryptionEnabledInRoom(roomId), 20_000);
      await alice.sendTextMessage(roomId, "across the wire, secretly");
      await until("bob to decrypt alice", async () => (await decryptedBodies(bob, roomId)).includes("across the wire, secretly"), 30_000);
      await bob.sendTextMessage(roomId, "and back, secretly");
      await until("alice to decrypt bob", async () => (await decryptedBodies(alice, roomId)).includes("and back, secretly"), 30_000);

      // Each server holds only ciphertext.
      for (const s of [a, b]) {
        const rows = await s.server.context.db.knex("events").where({ room_id: roomId, type: "m.room.encrypted" }).select("json");
        assert.ok(rows.length >= 2);
        for (const r of rows) assert.ok(!String(r.json).includes("secretly"));
      }
    });
  });
}
