/**
 * Dehydrated devices through matrix-js-sdk's Rust crypto, as Element uses
 * them: Alice sets up cross-signing and secret storage, turns on device
 * dehydration and then signs out everywhere. Bob writes to her in an
 * encrypted room while she has no device online; the room key goes to her
 * dehydrated device. When she signs in again, her new device rehydrates
 * it (the key comes from secret storage, the messages from the server)
 * and reads Bob's message. The server only stores and relays.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { bootstrapCrossSigning, decryptedBodies, setUpSecretStorage, loginClient, recoveryKeyHolder, registerClient, sdk, until, withRustCrypto, type Client } from "../support/js-sdk.js";
import { describeOnEachEngine } from "../support/server.js";

const password = (who: string) => `pw-${who}`;

describeOnEachEngine("device dehydration through matrix-js-sdk's Rust crypto", { server_name: "dehydrate.test", registration: { enabled: true } }, (h) => {
  const clients: Client[] = [];
  const recovery = recoveryKeyHolder();
  const { cryptoCallbacks } = recovery;
  const withCrypto = (client: Client) => withRustCrypto(clients, client);

  it("lets a new device read what arrived while no device was online", { timeout: 120_000 }, async (t) => {
    t.after(() => {
      for (const c of clients) c.stopClient();
    });
    const alice = await withCrypto(await registerClient(h.server.url, "alice", password("alice"), { cryptoCallbacks }));
    const bob = await withCrypto(await registerClient(h.server.url, "bob", password("bob")));
    const aliceCrypto = alice.getCrypto()!;
    await bootstrapCrossSigning(alice, password("alice"));
    await setUpSecretStorage(alice, recovery);

    assert.equal(await aliceCrypto.isDehydrationSupported(), true);
    await aliceCrypto.startDehydration({ createNewKey: true });
    const row = await h.server.context.db.knex("dehydrated_devices").where({ user_id: alice.getUserId()! }).first();
    assert.ok(row, "the server holds a dehydrated device");

    const { room_id: roomId } = await alice.createRoom({
      preset: sdk.Preset.PrivateChat,
      invite: [bob.getUserId()!],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await until("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite);
    await bob.joinRoom(roomId);
    await until("alice to see bob join", () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join");
    // Bob's join answers before his sync brings the room's state: he may only send once he knows it is encrypted.
    await until("bob to see the room encrypted", () => bob.getRoom(roomId)?.hasEncryptionStateEvent() === true);

    // Alice signs out: her only device left is the dehydrated one.
    alice.stopClient();
    await alice.logout(true);
    const devices = await h.server.context.accounts.devices(alice.getUserId()!);
    assert.deepEqual(devices.map((d) => d.deviceId), [row.device_id]);

    await bob.getCrypto()!.getUserDeviceInfo([alice.getUserId()!], true);
    await bob.sendTextMessage(roomId, "written while you were away");
    await until("the room key to wait for the dehydrated device", async () => {
      const n = await h.server.context.db.knex("to_device_messages").where({ user_id: alice.getUserId()!, device_id: row.device_id }).count({ n: "*" }).first();
      return Number(n?.n) > 0;
    }, 20_000);

    const again = await withCrypto(await loginClient(h.server.url, "alice", password("alice"), { cryptoCallbacks }));
    await until("alice's new device to see the room", () => again.getRoom(roomId) !== null);
    // As Element does on "verify with your recovery key": the cross-signing keys come out of secret storage.
    const againCrypto = again.getCrypto()!;
    // Its first key query must have brought her cross-signing public keys, or the private ones cannot be checked against them.
    await until("the new device to know alice's cross-signing keys", async () => {
      await againCrypto.getUserDeviceInfo([alice.getUserId()!], true);
      return (await againCrypto.getCrossSigningStatus()).publicKeysOnDevice;
    }, 20_000);
    await againCrypto.bootstrapCrossSigning({});
    assert.ok(await againCrypto.isCrossSigningReady(), "the new device holds the cross-signing keys");
    await againCrypto.startDehydration({ rehydrate: true });
    await until("the new device to read bob's message", async () => (await decryptedBodies(again, roomId)).includes("written while you were away"), 30_000);
  });
});
