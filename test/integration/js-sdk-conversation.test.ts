/**
 * Two people talk through matrix-js-sdk, the SDK Element is built on,
 * each client syncing for real: create a room, invite, join, messages,
 * typing, receipts, names and topic, history paginated back, leave. Then
 * each client's view of the room is compared with what the server stored.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { stateKey } from "../../src/room/types.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";
import { registerClient, sdk, started, until, type Client } from "../support/js-sdk.js";

const bodies = (client: Client, roomId: string): string[] =>
  (client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [])
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body as string);

for (const engine of ENGINES) {
  describe(`a conversation through matrix-js-sdk on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const clients: Client[] = [];

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "chat.test", registration: { enabled: true } }), createLogger("warn"));
    });
    after(async () => {
      for (const c of clients) c.stopClient();
      await server?.stop();
      await db?.dispose();
    });

    it("lets two users meet, talk, and see the same room", async () => {
      const alice = await started(await registerClient(server.url, "alice"));
      const bob = await started(await registerClient(server.url, "bob"));
      clients.push(alice, bob);

      // Alice creates a room and invites Bob; Bob sees the invite and joins.
      const { room_id: roomId } = await alice.createRoom({ name: "Planning", preset: sdk.Preset.PrivateChat, invite: ["@bob:chat.test"] });
      await until("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite);
      await bob.joinRoom(roomId);
      await until("alice to see bob join", () => alice.getRoom(roomId)?.getMember("@bob:chat.test")?.membership === "join");

      // Messages both ways, in order.
      await alice.sendTextMessage(roomId, "hello bob");
      await until("bob to get alice's message", () => bodies(bob, roomId).includes("hello bob"));
      await bob.sendTextMessage(roomId, "hi alice");
      await until("alice to get bob's reply", () => bodies(alice, roomId).includes("hi alice"));
      assert.deepEqual(bodies(alice, roomId).slice(-2), ["hello bob", "hi alice"]);
      assert.deepEqual(bodies(bob, roomId).slice(-2), ["hello bob", "hi alice"]);

      // Typing and a read receipt.
      await alice.sendTyping(roomId, true, 10_000);
      await until("bob to see alice typing", () => bob.getRoom(roomId)?.getMember("@alice:chat.test")?.typing === true);
      await alice.sendTyping(roomId, false, 0);
      await until("bob to see alice stop typing", () => bob.getRoom(roomId)?.getMember("@alice:chat.test")?.typing === false);
      // A receipt on the newest event (an older one would sit behind bob's own reply, which counts as read).
      const { event_id: question } = await alice.sendTextMessage(roomId, "are you there?");
      await until("bob to get the question", () => bob.getRoom(roomId)?.findEventById(question) !== undefined);
      const lastFromAlice = bob.getRoom(roomId)!.findEventById(question)!;
      await bob.sendReadReceipt(lastFromAlice);
      await until("alice to see bob's receipt", () =>
        alice.getRoom(roomId)?.getUsersReadUpTo(alice.getRoom(roomId)!.findEventById(lastFromAlice.getId()!)!).includes("@bob:chat.test"));

      // Names and topic.
      await bob.setDisplayName("Bobby");
      await until("alice to see bob's new name", () => alice.getRoom(roomId)?.getMember("@bob:chat.test")?.name === "Bobby");
      await alice.setRoomTopic(roomId, "Saturday's match");
      await until("bob to see the topic", () =>
        bob.getRoom(roomId)?.currentState.getStateEvents("m.room.topic", "")?.getContent().topic === "Saturday's match");

      // History: alice says a lot; a fresh client of bob's, syncing only a few events, paginates back through it all.
      for (let i = 0; i < 25; i++) await alice.sendTextMessage(roomId, `line ${i}`);
      const bob2 = sdk.createClient({ baseUrl: server.url, userId: bob.getUserId()!, accessToken: bob.getAccessToken()!, deviceId: bob.getDeviceId()! });
      clients.push(bob2);
      await started(bob2, 5);
      await until("bob2 to see the latest line", () => bodies(bob2, roomId).includes("line 24"));
      const room2 = bob2.getRoom(roomId)!;
      for (let i = 0; i < 10 && !bodies(bob2, roomId).includes("hello bob"); i++) await bob2.scrollback(room2, 10);
      const all = bodies(bob2, roomId);
      assert.deepEqual(all, ["hello bob", "hi alice", "are you there?", ...Array.from({ length: 25 }, (_, i) => `line ${i}`)]);

      // Each client's view matches what the server stored.
      const hs = server.context;
      const current = await hs.states.currentState(roomId);
      for (const client of [alice, bob, bob2]) {
        const room = client.getRoom(roomId)!;
        for (const type of ["m.room.create", "m.room.name", "m.room.topic", "m.room.power_levels", "m.room.join_rules"]) {
          assert.equal(room.currentState.getStateEvents(type, "")?.getId(), current.get(stateKey(type, "")), `${client.getUserId()} ${type}`);
        }
        const members = room.getJoinedMembers().map((m) => m.userId).sort();
        assert.deepEqual(members, (await hs.states.membersOfRoom(roomId)).sort());
      }
      const serverTimeline = (await hs.db.knex("events").where({ room_id: roomId, type: "m.room.message" }).orderBy("stream_ordering").select("event_id")).map((r: { event_id: string }) => r.event_id);
      const clientTimeline = room2ids(bob2, roomId);
      assert.deepEqual(clientTimeline, serverTimeline);

      // Bob leaves; alice sees it.
      await bob.leave(roomId);
      await until("alice to see bob leave", () => alice.getRoom(roomId)?.getMember("@bob:chat.test")?.membership === "leave");
      assert.equal(await hs.states.membershipOf(roomId, "@bob:chat.test"), "leave");
    });
  });
}

function room2ids(client: Client, roomId: string): string[] {
  return client.getRoom(roomId)!.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message").map((e) => e.getId()!);
}
