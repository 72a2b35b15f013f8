/**
 * Accounts over real HTTP: registration with user-interactive auth,
 * login, whoami, logout, and the errors each misuse gets.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { testHttp } from "../support/http.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

for (const engine of ENGINES) {
  describe(`accounts on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const { call, register } = testHttp(() => server.url);

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "acc.test", registration: { enabled: true } }), createLogger("warn"));
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("asks for user-interactive auth, then registers with m.login.dummy", async () => {
      const first = await call("POST", "/_matrix/client/v3/register", { username: "alice", password: "pw-alice" });
      assert.equal(first.status, 401);
      assert.deepEqual(first.body.flows, [{ stages: ["m.login.dummy"] }]);
      assert.equal(typeof first.body.session, "string");
      assert.equal(first.body.errcode, undefined, "a first challenge carries no error");
      const done = await call("POST", "/_matrix/client/v3/register", {
        username: "alice", password: "pw-alice", initial_device_display_name: "laptop",
        auth: { type: "m.login.dummy", session: first.body.session },
      });
      assert.equal(done.status, 200);
      assertSpecResponse("client-server", "registration.yaml", "POST", "/register", 200, done.body);
      assertSpecResponse("client-server", "registration.yaml", "POST", "/register", 401, first.body);
      assert.equal(done.body.user_id, "@alice:acc.test");
      assert.equal(typeof done.body.access_token, "string");
      assert.equal(typeof done.body.device_id, "string");
      const who = await call("GET", "/_matrix/client/v3/account/whoami", undefined, done.body.access_token);
      assert.deepEqual(who.body, { user_id: "@alice:acc.test", device_id: done.body.device_id, is_guest: false });
      assertSpecResponse("client-server", "whoami.yaml", "GET", "/account/whoami", 200, who.body);
    });

    it("refuses taken and invalid names, and a stale or foreign UIA session", async () => {
      const taken = await call("POST", "/_matrix/client/v3/register", { username: "alice", password: "x" });
      assert.equal(taken.status, 400);
      assert.equal(taken.body.errcode, "M_USER_IN_USE");
      assertSpecResponse("client-server", "registration.yaml", "POST", "/register", 400, taken.body);
      const avail = await call("GET", "/_matrix/client/v3/register/available?username=alice");
      assert.equal(avail.body.errcode, "M_USER_IN_USE");
      assert.deepEqual((await call("GET", "/_matrix/client/v3/register/available?username=newbie")).body, { available: true });
      for (const bad of ["Ali ce", "al:ice", "émile", ""]) {
        const res = await call("POST", "/_matrix/client/v3/register", { username: bad, password: "x" });
        assert.equal(res.status, 400, bad);
        assert.equal(res.body.errcode, "M_INVALID_USERNAME", bad);
      }
      const stale = await call("POST", "/_matrix/client/v3/register", { username: "bob", password: "x", auth: { type: "m.login.dummy", session: "nope" } });
      assert.equal(stale.status, 400);
      const wrongType = await call("POST", "/_matrix/client/v3/register", { username: 42, password: "x" });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body.errcode, "M_BAD_JSON");
    });

    it("logs in with a password, refuses a wrong one, and ends sessions on logout", async () => {
      await register("carol", "pw-carol");
      const wrong = await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: "nope" });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.body.errcode, "M_FORBIDDEN");
      const flows = await call("GET", "/_matrix/client/v3/login");
      assert.deepEqual(flows.body.flows, [{ type: "m.login.password" }, { type: "m.login.token" }]);
      const a = await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "@carol:acc.test" }, password: "pw-carol" });
      const b = await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "carol" }, password: "pw-carol", device_id: "PHONE" });
      assert.equal(a.status, 200);
      assertSpecResponse("client-server", "login.yaml", "POST", "/login", 200, a.body);
      assertSpecResponse("client-server", "login.yaml", "POST", "/login", 403, wrong.body);
      assertSpecResponse("client-server", "login.yaml", "GET", "/login", 200, flows.body);
      assert.equal(b.body.device_id, "PHONE");
      assert.equal((await call("POST", "/_matrix/client/v3/logout", {}, a.body.access_token)).status, 200);
      const gone = await call("GET", "/_matrix/client/v3/account/whoami", undefined, a.body.access_token);
      assert.equal(gone.status, 401);
      assert.equal(gone.body.errcode, "M_UNKNOWN_TOKEN");
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, b.body.access_token)).status, 200);
      await call("POST", "/_matrix/client/v3/logout/all", {}, b.body.access_token);
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, b.body.access_token)).status, 401);
    });

    it("tells a missing token from an unknown one, and accepts the deprecated query parameter", async () => {
      const missing = await call("GET", "/_matrix/client/v3/account/whoami");
      assert.equal(missing.status, 401);
      assert.equal(missing.body.errcode, "M_MISSING_TOKEN");
      const reg = await register("dave", "pw-dave");
      const res = await fetch(`${server.url}/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(reg.access_token)}`);
      assert.equal(((await res.json()) as { user_id: string }).user_id, "@dave:acc.test");
    });
  });
}

describe("registration switched off (the default)", () => {
  it("answers /register with 403 M_FORBIDDEN and creates nobody", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config(), createLogger("warn"));
    try {
      const res = await fetch(`${server.url}/_matrix/client/v3/register`, { method: "POST", body: JSON.stringify({ username: "x", password: "y", auth: { type: "m.login.dummy" } }) });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as { errcode: string }).errcode, "M_FORBIDDEN");
      assert.equal(await server.context.accounts.userExists("@x:localhost"), false);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("login rate limit", () => {
  it("answers a flood with 429 M_LIMIT_EXCEEDED and retry_after_ms, creating no session", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(
      db.config({ server_name: "rl.test", registration: { enabled: true }, rate_limits: { login: { per_second: 0.01, burst: 2 } } }),
      createLogger("warn"),
    );
    try {
      await server.context.accounts.createUser("@rita:rl.test", "pw");
      const login = () =>
        fetch(`${server.url}/_matrix/client/v3/login`, {
          method: "POST",
          body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "rita" }, password: "pw" }),
        });
      assert.equal((await login()).status, 200);
      assert.equal((await login()).status, 200);
      const limited = await login();
      assert.equal(limited.status, 429);
      const body = (await limited.json()) as { errcode: string; retry_after_ms: number };
      assert.equal(body.errcode, "M_LIMIT_EXCEEDED");
      assert.ok(body.retry_after_ms > 0);
      assertSpecResponse("client-server", "login.yaml", "POST", "/login", 429, body);
      const devices = await server.context.db.knex("devices").where({ user_id: "@rita:rl.test" }).count({ n: "*" }).first();
      assert.equal(Number(devices?.n), 2);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("shared-secret registration (/_synapse/admin/v1/register)", () => {
  it("registers an admin with a correct HMAC even with open registration off, and refuses a wrong one or a reused nonce", async () => {
    const { createHmac } = await import("node:crypto");
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "ss.test", registration: { shared_secret: "s3cret" } }), createLogger("warn"));
    const { call } = testHttp(() => server.url);
    const mac = (nonce: string, user: string, pw: string, admin: boolean, key = "s3cret") =>
      createHmac("sha1", key).update([nonce, user, pw, admin ? "admin" : "notadmin"].join("\u0000")).digest("hex");
    try {
      const n1 = (await call("GET", "/_synapse/admin/v1/register")).body.nonce as string;
      const bad = await call("POST", "/_synapse/admin/v1/register", { nonce: n1, username: "root", password: "pw", admin: true, mac: mac(n1, "root", "pw", true, "wrong") });
      assert.equal(bad.status, 403);
      assert.equal(await server.context.accounts.userExists("@root:ss.test"), false);
      const n2 = (await call("GET", "/_synapse/admin/v1/register")).body.nonce as string;
      const ok = await call("POST", "/_synapse/admin/v1/register", { nonce: n2, username: "root", password: "pw", admin: true, mac: mac(n2, "root", "pw", true) });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.user_id, "@root:ss.test");
      assert.equal((await server.context.accounts.getUser("@root:ss.test"))?.admin, true);
      const who = await call("GET", "/_matrix/client/v3/account/whoami", undefined, ok.body.access_token);
      assert.equal(who.body.user_id, "@root:ss.test");
      const replay = await call("POST", "/_synapse/admin/v1/register", { nonce: n2, username: "root2", password: "pw", admin: false, mac: mac(n2, "root2", "pw", false) });
      assert.equal(replay.status, 400);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("password change and deactivation", () => {
  it("change the password behind m.login.password, then deactivate: nothing works afterwards", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "pw.test", registration: { enabled: true } }), createLogger("warn"));
    const { call, register } = testHttp(() => server.url);
    try {
      const me = await register("pat", "old-pw");
      const login = (pw: string) => call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "pat" }, password: pw });
      const other = (await login("old-pw")).body;

      const challenge = await call("POST", "/_matrix/client/v3/account/password", { new_password: "new-pw" }, me.access_token);
      assert.equal(challenge.status, 401);
      assert.deepEqual(challenge.body.flows, [{ stages: ["m.login.password"] }]);
      const wrong = await call("POST", "/_matrix/client/v3/account/password", {
        new_password: "new-pw",
        auth: { type: "m.login.password", session: challenge.body.session, identifier: { type: "m.id.user", user: "pat" }, password: "nope" },
      }, me.access_token);
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.errcode, "M_FORBIDDEN");
      assert.equal((await login("old-pw")).status, 200, "a failed stage changes nothing");

      const done = await call("POST", "/_matrix/client/v3/account/password", {
        new_password: "new-pw",
        auth: { type: "m.login.password", session: challenge.body.session, identifier: { type: "m.id.user", user: "pat" }, password: "old-pw" },
      }, me.access_token);
      assert.equal(done.status, 200);
      assert.equal((await login("old-pw")).status, 403);
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, other.access_token)).status, 401, "other sessions end");
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, me.access_token)).status, 200, "this one stays");

      const d1 = await call("POST", "/_matrix/client/v3/account/deactivate", {}, me.access_token);
      assert.equal(d1.status, 401);
      const d2 = await call("POST", "/_matrix/client/v3/account/deactivate", {
        auth: { type: "m.login.password", session: d1.body.session, identifier: { type: "m.id.user", user: "pat" }, password: "new-pw" },
      }, me.access_token);
      assert.equal(d2.status, 200);
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, me.access_token)).status, 401);
      assert.equal((await login("new-pw")).status, 403);
      const again = await call("POST", "/_matrix/client/v3/register", { username: "pat", password: "x" });
      assert.equal(again.body.errcode, "M_USER_IN_USE", "a deactivated id is never reused");
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("refresh tokens and login tokens", () => {
  it("issues an expiring access token with a refresh token, renews it once, and soft-logs-out an expired one", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(
      db.config({ server_name: "rt.test", registration: { enabled: true }, refreshable_access_token_lifetime_ms: 1500 }),
      createLogger("warn"),
    );
    const { call } = testHttp(() => server.url);
    try {
      await server.context.accounts.createUser("@rae:rt.test", "pw");
      const login = await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "rae" }, password: "pw", refresh_token: true });
      assert.equal(login.status, 200);
      assertSpecResponse("client-server", "login.yaml", "POST", "/login", 200, login.body);
      assert.equal(login.body.expires_in_ms, 1500);
      assert.equal(typeof login.body.refresh_token, "string");
      const renewed = await call("POST", "/_matrix/client/v3/refresh", { refresh_token: login.body.refresh_token });
      assert.equal(renewed.status, 200);
      assertSpecResponse("client-server", "refresh.yaml", "POST", "/refresh", 200, renewed.body);
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, login.body.access_token)).status, 401, "the old access token ends");
      assert.equal((await call("POST", "/_matrix/client/v3/refresh", { refresh_token: login.body.refresh_token })).status, 401, "a refresh token works once");
      assert.equal((await call("GET", "/_matrix/client/v3/account/whoami", undefined, renewed.body.access_token)).status, 200);
      await new Promise((r) => setTimeout(r, 1600));
      const expired = await call("GET", "/_matrix/client/v3/account/whoami", undefined, renewed.body.access_token);
      assert.equal(expired.status, 401);
      assert.deepEqual([expired.body.errcode, expired.body.soft_logout], ["M_UNKNOWN_TOKEN", true]);
      assert.equal((await call("POST", "/_matrix/client/v3/refresh", { refresh_token: renewed.body.refresh_token })).status, 200, "and can still be refreshed");
    } finally {
      await server.stop();
      await db.dispose();
    }
  });

  it("signs a second device in with a single-use m.login.token obtained behind UIA", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "lt.test", registration: { enabled: true } }), createLogger("warn"));
    const { call, register } = testHttp(() => server.url);
    try {
      const me = await register("lou", "pw-lou");
      const challenge = await call("POST", "/_matrix/client/v1/login/get_token", {}, me.access_token);
      assert.equal(challenge.status, 401);
      const got = await call("POST", "/_matrix/client/v1/login/get_token", {
        auth: { type: "m.login.password", session: challenge.body.session, identifier: { type: "m.id.user", user: "lou" }, password: "pw-lou" },
      }, me.access_token);
      assert.equal(got.status, 200);
      const second = await call("POST", "/_matrix/client/v3/login", { type: "m.login.token", token: got.body.login_token });
      assert.equal(second.status, 200);
      assert.equal(second.body.user_id, me.user_id);
      assert.notEqual(second.body.device_id, me.device_id);
      assert.equal((await call("POST", "/_matrix/client/v3/login", { type: "m.login.token", token: got.body.login_token })).status, 403, "single use");
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("registration tokens", () => {
  it("asks for a token, refuses a bad or used-up one, and counts each registration", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "tok.test", registration: { enabled: true, requires_token: true } }), createLogger("warn"));
    const { call } = testHttp(() => server.url);
    try {
      await server.context.accounts.createUser("@boss:tok.test", "pw", { admin: true });
      const boss = (await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "boss" }, password: "pw" })).body;
      const made = await call("POST", "/_synapse/admin/v1/registration_tokens/new", { token: "club-2026", uses_allowed: 1 }, boss.access_token);
      assert.equal(made.status, 200);
      assert.equal((await call("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=club-2026")).body.valid, true);
      assert.equal((await call("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=nope")).body.valid, false);

      const signUp = async (username: string, token: string) => {
        const first = await call("POST", "/_matrix/client/v3/register", { username, password: "pw" });
        assert.deepEqual(first.body.flows, [{ stages: ["m.login.registration_token"] }]);
        return call("POST", "/_matrix/client/v3/register", { username, password: "pw", auth: { type: "m.login.registration_token", token, session: first.body.session } });
      };
      const wrong = await signUp("newbie", "nope");
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.errcode, "M_UNAUTHORIZED");
      assert.equal(await server.context.accounts.userExists("@newbie:tok.test"), false);
      assert.equal((await signUp("newbie", "club-2026")).status, 200);
      assert.equal((await signUp("second", "club-2026")).status, 401, "one use only");
      assert.equal(await server.context.accounts.userExists("@second:tok.test"), false);
      const list = await call("GET", "/_synapse/admin/v1/registration_tokens", undefined, boss.access_token);
      assert.deepEqual(list.body.registration_tokens.map((t: { token: string; completed: number }) => [t.token, t.completed]), [["club-2026", 1]]);
      const notAdmin = (await call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user: "newbie" }, password: "pw" })).body;
      assert.equal((await call("POST", "/_synapse/admin/v1/registration_tokens/new", {}, notAdmin.access_token)).status, 403);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});
