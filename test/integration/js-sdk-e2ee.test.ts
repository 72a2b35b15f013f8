/**
 * An encrypted conversation through matrix-js-sdk and its Rust crypto
 * (what Element runs): Alice sets up cross-signing, secret storage and key
 * backup; she and Bob talk in an encrypted room and each decrypts the
 * other; Bob sees Alice's device as cross-signed; Alice signs in on a
 * second device, restores the key backup and reads the earlier messages.
 * The server only stores and relays: every step goes through its real
 * endpoints (keys, to-device, device lists in /sync, account data,
 * room_keys).
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { bootstrapCrossSigning, decryptedBodies, setUpSecretStorage, loginClient, recoveryKeyHolder, registerClient, sdk, until, withRustCrypto, type Client } from "../support/js-sdk.js";
import { describeOnEachEngine } from "../support/server.js";

const SERVER = "crypt.test";
const password = (who: string) => `pw-${who}`;

describeOnEachEngine("an encrypted conversation through matrix-js-sdk's Rust crypto", { server_name: SERVER, registration: { enabled: true } }, (h) => {
  const clients: Client[] = [];
  // The secret-storage key Alice creates, handed to her second device as a user would type in her recovery key.
  const recovery = recoveryKeyHolder();
  const { cryptoCallbacks } = recovery;
  const withCrypto = (client: Client) => withRustCrypto(clients, client);

  it("encrypts, decrypts, cross-signs and restores from backup", { timeout: 120_000 }, async (t) => {
    t.after(() => {
      for (const c of clients) c.stopClient();
    });
    const alice = await withCrypto(await registerClient(h.server.url, "alice", password("alice"), { cryptoCallbacks }));
    const bob = await withCrypto(await registerClient(h.server.url, "bob", password("bob")));
    const aliceCrypto = alice.getCrypto()!;

    // Cross-signing and secret storage with a new key backup, as Element's "set up secure backup" does.
    await bootstrapCrossSigning(alice, password("alice"));
    await setUpSecretStorage(alice, recovery, { setupNewKeyBackup: true });
    assert.ok(await aliceCrypto.isCrossSigningReady(), "cross-signing ready");
    await until("the key backup to be active", async () => (await aliceCrypto.getActiveSessionBackupVersion()) !== null, 20_000);

    const { room_id: roomId } = await alice.createRoom({
      preset: sdk.Preset.PrivateChat,
      invite: [bob.getUserId()!],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await until("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite);
    await bob.joinRoom(roomId);
    await until("alice to see bob join", () => alice.getRoom(roomId)?.getMember(bob.getUserId()!)?.membership === "join");

    await alice.sendTextMessage(roomId, "hello bob, secretly");
    await until("bob to decrypt alice's message", async () => (await decryptedBodies(bob, roomId)).includes("hello bob, secretly"), 20_000);
    await bob.sendTextMessage(roomId, "hi alice, secretly");
    await until("alice to decrypt bob's reply", async () => (await decryptedBodies(alice, roomId)).includes("hi alice, secretly"), 20_000);
    // What the server holds is ciphertext.
    const stored = await h.server.context.db.knex("events").where({ room_id: roomId, type: "m.room.encrypted" }).select("json");
    assert.ok(stored.length >= 2);
    for (const r of stored) assert.ok(!String(r.json).includes("secretly"));

    // Bob sees Alice's device as signed by its owner's cross-signing keys.
    const bobCrypto = bob.getCrypto()!;
    await until("bob to see alice's device cross-signed", async () => {
      await bobCrypto.getUserDeviceInfo([alice.getUserId()!], true);
      return (await bobCrypto.getDeviceVerificationStatus(alice.getUserId()!, alice.getDeviceId()!))?.signedByOwner;
    }, 20_000);

    // The Rust backup loop uploads the room keys after a short random delay.
    await until("the room keys to reach the backup", async () => {
      const res = await fetch(`${h.server.url}/_matrix/client/v3/room_keys/version`, { headers: { authorization: `Bearer ${alice.getAccessToken()}` } });
      return res.ok && ((await res.json()) as { count: number }).count >= 2;
    }, 40_000);

    // A second device: the recovery key unlocks secret storage, which holds the backup key.
    const alice2 = await withCrypto(await loginClient(h.server.url, "alice", password("alice"), { cryptoCallbacks }));
    const crypto2 = alice2.getCrypto()!;
    await until("the second device to see the room", () => alice2.getRoom(roomId) !== null);
    assert.deepEqual(await decryptedBodies(alice2, roomId), [], "nothing readable before the restore");
    await crypto2.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await crypto2.restoreKeyBackup();
    assert.ok(restored.imported >= 2, `imported ${restored.imported} of ${restored.total}`);
    await until("the second device to read the history", async () => {
      const bodies = await decryptedBodies(alice2, roomId);
      return bodies.includes("hello bob, secretly") && bodies.includes("hi alice, secretly");
    }, 20_000);
  });
});
