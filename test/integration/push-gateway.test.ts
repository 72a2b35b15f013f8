/**
 * Pushers and delivery to a real push gateway (an HTTP server this test
 * runs on 127.0.0.1), on every database: /pushers and /pushers/set with
 * their validation errors, the notify body per the push gateway spec (and
 * event_id_only), nothing for actions that do not notify, a failing
 * gateway retried with backoff, rejected pushkeys removing their pushers.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";
import type { Registered } from "../support/http.js";

const V3 = "/_matrix/client/v3";
const NOTIFY = "/_matrix/push/v1/notify";
const SETTINGS = {
  server_name: "pushgw.test",
  registration: { enabled: true },
  rate_limits: { message: { per_second: 0, burst: 1 }, registration: { per_second: 0, burst: 1 } },
  push: { allow_private_addresses: true, require_https: false, retry_initial_ms: 100, retry_max_ms: 400 },
};

interface Received {
  readonly at: number;
  readonly path: string;
  readonly body: any;
}

/** A push gateway: records what it is sent; `answer` decides each reply. */
class Gateway {
  readonly received: Received[] = [];
  answer: (body: any, n: number) => { status: number; body: unknown } = () => ({ status: 200, body: { rejected: [] } });
  private server!: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        this.received.push({ at: Date.now(), path: req.url ?? "", body });
        const a = this.answer(body, this.received.length);
        res.writeHead(a.status, { "content-type": "application/json" });
        res.end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${NOTIFY}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  /** Wait (bounded) until `n` requests arrived. */
  async waitFor(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`gateway got ${this.received.length} requests, expected ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describeOnEachEngine("pushers and the push gateway", SETTINGS, (h) => {
  let alice: Registered;
  let bob: Registered;
  let txn = 0;
  const gateway = new Gateway();
  const call = (method: string, path: string, body?: unknown, token?: string) => h.http.call(method, path, body, token);
  const ok = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await call(method, path, body, token);
    assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const send = async (who: Registered, roomId: string, content: Record<string, unknown>, type = "m.room.message") =>
    (await ok("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/${type}/t${++txn}`, who.access_token, content)).event_id as string;
  const pusher = (more: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
    kind: "http", app_id: "org.example.app", pushkey: "key-1", app_display_name: "Example", device_display_name: "Phone",
    lang: "en", data: { url: gateway.url, ...data }, ...more,
  });
  let room: string;

  before(async () => {
    await gateway.start();
    alice = await h.http.register("alice");
    bob = await h.http.register("bob");
    await ok("PUT", `${V3}/profile/${encodeURIComponent(alice.user_id)}/displayname`, alice.access_token, { displayname: "Alice A." });
    room = (await ok("POST", `${V3}/createRoom`, alice.access_token, { preset: "public_chat", name: "Tea room" })).room_id;
    await ok("POST", `${V3}/join/${encodeURIComponent(room)}`, bob.access_token, {});
    await ok("POST", `${V3}/join/${encodeURIComponent(room)}`, (await h.http.register("carol")).access_token, {});
  });
  after(() => gateway.stop());

  it("sets, lists, updates and deletes pushers, per the spec", async () => {
    await ok("POST", `${V3}/pushers/set`, bob.access_token, pusher({ profile_tag: "tag" }, { custom: "x" }));
    const listed = await ok("GET", `${V3}/pushers`, bob.access_token);
    assertSpecResponse("client-server", "pusher.yaml", "GET", "/pushers", 200, listed);
    assert.deepEqual(listed.pushers, [{
      pushkey: "key-1", kind: "http", app_id: "org.example.app", app_display_name: "Example", device_display_name: "Phone",
      profile_tag: "tag", lang: "en", data: { url: gateway.url, custom: "x" },
    }]);
    await ok("POST", `${V3}/pushers/set`, bob.access_token, pusher({ device_display_name: "New phone" }));
    const updated = (await ok("GET", `${V3}/pushers`, bob.access_token)).pushers;
    assert.equal(updated.length, 1);
    assert.equal(updated[0].device_display_name, "New phone");
    await ok("POST", `${V3}/pushers/set`, bob.access_token, { kind: null, app_id: "org.example.app", pushkey: "key-1" });
    assert.deepEqual((await ok("GET", `${V3}/pushers`, bob.access_token)).pushers, []);
  });

  it("without append, a pushkey moves between users; with append it is shared", async () => {
    const dan = await h.http.register("dan");
    await ok("POST", `${V3}/pushers/set`, bob.access_token, pusher({ pushkey: "shared" }));
    await ok("POST", `${V3}/pushers/set`, dan.access_token, pusher({ pushkey: "shared", append: true }));
    assert.equal((await ok("GET", `${V3}/pushers`, bob.access_token)).pushers.length, 1);
    await ok("POST", `${V3}/pushers/set`, dan.access_token, pusher({ pushkey: "shared" }));
    assert.equal((await ok("GET", `${V3}/pushers`, bob.access_token)).pushers.length, 0);
    assert.equal((await ok("GET", `${V3}/pushers`, dan.access_token)).pushers.length, 1);
    await ok("POST", `${V3}/pushers/set`, dan.access_token, { kind: null, app_id: "org.example.app", pushkey: "shared" });
  });

  it("refuses bad pushers with the spec's errors, storing nothing", async () => {
    const t = bob.access_token;
    const expect = async (body: unknown, errcode: string) => {
      const res = await call("POST", `${V3}/pushers/set`, body, t);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.errcode, errcode, JSON.stringify(body));
    };
    await expect({ app_id: "a", pushkey: "k" }, "M_MISSING_PARAM");
    await expect({ kind: "http", pushkey: "k" }, "M_MISSING_PARAM");
    await expect({ kind: "http", app_id: "a" }, "M_MISSING_PARAM");
    const { lang: _l, ...noLang } = pusher();
    await expect(noLang, "M_MISSING_PARAM");
    await expect(pusher({ data: {} }), "M_MISSING_PARAM");
    await expect(pusher({ kind: "email" }), "M_INVALID_PARAM");
    await expect(pusher({ kind: 3 }), "M_INVALID_PARAM");
    await expect(pusher({ app_id: "a".repeat(65) }), "M_INVALID_PARAM");
    await expect(pusher({ pushkey: "k".repeat(513) }), "M_INVALID_PARAM");
    await expect(pusher({ data: { url: "not a url" } }), "M_INVALID_PARAM");
    await expect(pusher({ data: { url: "http://127.0.0.1:1/elsewhere" } }), "M_INVALID_PARAM");
    await expect(pusher({ data: { url: "ftp://127.0.0.1/_matrix/push/v1/notify" } }), "M_INVALID_PARAM");
    await expect(pusher({}, { format: "full" }), "M_INVALID_PARAM");
    await expect(pusher({ append: "yes" }), "M_INVALID_PARAM");
    assert.deepEqual((await ok("GET", `${V3}/pushers`, t)).pushers, []);
    assert.equal((await call("GET", `${V3}/pushers`)).status, 401);
  });

  it("delivers notifications with the push gateway body; nothing for events that do not notify", async () => {
    gateway.received.length = 0;
    await ok("POST", `${V3}/pushers/set`, bob.access_token, pusher({}, { custom: "x" }));
    await send(alice, room, { msgtype: "m.notice", body: "silent" });
    const mention = await send(alice, room, { msgtype: "m.text", body: "tea?", "m.mentions": { user_ids: [bob.user_id] } });
    await gateway.waitFor(1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(gateway.received.length, 1, "the notice was not pushed");
    const got = gateway.received[0];
    assert.equal(got.path, NOTIFY);
    const n = got.body.notification;
    assert.equal(n.event_id, mention);
    assert.equal(n.room_id, room);
    assert.equal(n.type, "m.room.message");
    assert.equal(n.sender, alice.user_id);
    assert.equal(n.sender_display_name, "Alice A.");
    assert.equal(n.room_name, "Tea room");
    assert.deepEqual(n.content, { msgtype: "m.text", body: "tea?", "m.mentions": { user_ids: [bob.user_id] } });
    assert.equal(n.prio, "high");
    assert.ok(n.counts.unread >= 1, JSON.stringify(n.counts));
    assert.equal(n.devices.length, 1);
    const d = n.devices[0];
    assert.equal(d.app_id, "org.example.app");
    assert.equal(d.pushkey, "key-1");
    assert.ok(Number.isInteger(d.pushkey_ts) && Math.abs(d.pushkey_ts - Date.now() / 1000) < 600, "pushkey_ts is in seconds");
    assert.deepEqual(d.data, { custom: "x" }, "data without url");
    assert.deepEqual(d.tweaks, { sound: "default", highlight: true });
  });

  it("event_id_only sends only the ids, counts and devices", async () => {
    gateway.received.length = 0;
    await ok("POST", `${V3}/pushers/set`, bob.access_token, pusher({}, { format: "event_id_only" }));
    const id = await send(alice, room, { msgtype: "m.text", body: "again" });
    await gateway.waitFor(1);
    const n = gateway.received[0].body.notification;
    assert.equal(n.event_id, id);
    assert.equal(n.room_id, room);
    assert.equal(n.content, undefined);
    assert.equal(n.sender, undefined);
    assert.deepEqual(n.devices[0].data, { format: "event_id_only" });
    assert.deepEqual(n.devices[0].tweaks, {});
  });

  it("retries a failing gateway with growing delays, delivering each notification once it answers, in order", async () => {
    gateway.received.length = 0;
    let fail = 3;
    gateway.answer = () => (fail-- > 0 ? { status: 503, body: {} } : { status: 200, body: { rejected: [] } });
    const first = await send(alice, room, { msgtype: "m.text", body: "r1" });
    const second = await send(alice, room, { msgtype: "m.text", body: "r2" });
    await gateway.waitFor(5, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const ids = gateway.received.map((g) => g.body.notification.event_id);
    assert.deepEqual(ids, [first, first, first, first, second]);
    const gaps = gateway.received.slice(1, 4).map((g, i) => g.at - gateway.received[i].at);
    assert.ok(gaps[0] >= 80 && gaps[1] >= 180 && gaps[2] >= 350, `backoff doubles: ${gaps.join(", ")} ms`);
    gateway.answer = () => ({ status: 200, body: { rejected: [] } });
  });

  it("a read receipt sends the new unread count (badge) without an event", async () => {
    gateway.received.length = 0;
    const id = await send(alice, room, { msgtype: "m.text", body: "read me" });
    await gateway.waitFor(1);
    assert.ok(gateway.received[0].body.notification.counts.unread >= 1);
    await ok("POST", `${V3}/rooms/${encodeURIComponent(room)}/receipt/m.read/${encodeURIComponent(id)}`, bob.access_token, {});
    await gateway.waitFor(2);
    const badge = gateway.received[1].body.notification;
    assert.equal(badge.event_id, undefined);
    assert.deepEqual(badge.counts, { unread: 0 });
    assert.equal(badge.devices[0].pushkey, "key-1");
  });

  it("a device that logs out takes its pushers with it", async () => {
    const login = await call("POST", `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: "bob" }, password: "pw-bob" });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const phone = login.body.access_token as string;
    await ok("POST", `${V3}/pushers/set`, phone, pusher({ pushkey: "phone-key" }));
    const keys = async () => (await ok("GET", `${V3}/pushers`, bob.access_token)).pushers.map((p: any) => p.pushkey).sort();
    assert.deepEqual(await keys(), ["key-1", "phone-key"]);
    await ok("POST", `${V3}/logout`, phone, {});
    assert.deepEqual(await keys(), ["key-1"]);
  });

  it("a rejected pushkey removes its pusher", async () => {
    gateway.received.length = 0;
    gateway.answer = (body) => ({ status: 200, body: { rejected: [body.notification.devices[0].pushkey] } });
    await send(alice, room, { msgtype: "m.text", body: "bye" });
    await gateway.waitFor(1);
    const deadline = Date.now() + 5000;
    while ((await ok("GET", `${V3}/pushers`, bob.access_token)).pushers.length > 0) {
      assert.ok(Date.now() < deadline, "the pusher was removed");
      await new Promise((r) => setTimeout(r, 20));
    }
    await send(alice, room, { msgtype: "m.text", body: "unheard" });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(gateway.received.length, 1);
    gateway.answer = () => ({ status: 200, body: { rejected: [] } });
  });
});
