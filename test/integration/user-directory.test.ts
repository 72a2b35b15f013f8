/** POST /user_directory/search over real HTTP: who can be found by whom, and search_all_users. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";

async function setName(h: { http: { call: Function } }, u: { user_id: string; access_token: string }, name: string) {
  const r = await h.http.call("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(u.user_id)}/displayname`, { displayname: name }, u.access_token);
  assert.equal(r.status, 200);
}

describeOnEachEngine("user directory", { server_name: "ud.test", registration: { enabled: true } }, (h) => {
  const find = async (token: string, search_term: string, limit?: number) => {
    const r = await h.http.call("POST", "/_matrix/client/v3/user_directory/search", { search_term, ...(limit !== undefined ? { limit } : {}) }, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "users.yaml", "POST", "/user_directory/search", 200, r.body);
    return r.body as { results: { user_id: string; display_name?: string }[]; limited: boolean };
  };
  const userIds = (b: { results: { user_id: string }[] }) => b.results.map((r) => r.user_id).sort();

  it("finds users who share a room or sit in public rooms, by id or display name, and not strangers", async () => {
    const searcher = await h.http.register("searcher");
    const friend = await h.http.register("friend");
    const stranger = await h.http.register("strangerdanger");
    const publicFolk = await h.http.register("publicfolk");
    await setName(h, friend, "Frieda Kahlo");
    await setName(h, stranger, "Frieda Stranger");
    await setName(h, searcher, "Frank");

    const priv = await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", invite: [friend.user_id] }, searcher.access_token);
    await h.http.call("POST", `/_matrix/client/v3/join/${priv.body.room_id}`, {}, friend.access_token);
    // The stranger has a private room of their own; publicfolk a public one.
    await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" }, stranger.access_token);
    await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, publicFolk.access_token);

    assert.deepEqual(userIds(await find(searcher.access_token, "frieda")), [friend.user_id]);
    const byWord = await find(searcher.access_token, "KAHLO");
    assert.deepEqual(byWord.results, [{ user_id: friend.user_id, display_name: "Frieda Kahlo" }]);
    assert.deepEqual(userIds(await find(searcher.access_token, "frien")), [friend.user_id], "localpart prefix");
    assert.deepEqual(userIds(await find(searcher.access_token, `@friend:ud.test`)), [friend.user_id], "a whole user id");
    assert.deepEqual(userIds(await find(searcher.access_token, "publicf")), [publicFolk.user_id], "members of public rooms");
    assert.deepEqual((await find(searcher.access_token, "strangerdanger")).results, []);
    assert.deepEqual((await find(searcher.access_token, "rieda")).results, [], "no infix matches");
    assert.deepEqual((await find(searcher.access_token, "100%_")).results, [], "LIKE wildcards are literal");

    const limited = await find(searcher.access_token, "f", 1);
    assert.equal(limited.results.length, 1);
    assert.equal(limited.limited, true);
  });

  it("leaves deactivated users out and rejects bad input", async () => {
    const a = await h.http.register("deactivee");
    const b = await h.http.register("looker");
    const room = await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, a.access_token);
    await h.http.call("POST", `/_matrix/client/v3/join/${room.body.room_id}`, {}, b.access_token);
    assert.deepEqual(userIds(await find(b.access_token, "deactivee")), [a.user_id]);
    await h.server.context.accounts.deactivate(a.user_id);
    assert.deepEqual((await find(b.access_token, "deactivee")).results, []);

    assert.equal((await h.http.call("POST", "/_matrix/client/v3/user_directory/search", {}, b.access_token)).status, 400);
    assert.equal((await h.http.call("POST", "/_matrix/client/v3/user_directory/search", { search_term: "x", limit: "many" }, b.access_token)).status, 400);
    assert.equal((await h.http.call("POST", "/_matrix/client/v3/user_directory/search", { search_term: "x" })).status, 401);
  });
});

describeOnEachEngine("user directory with search_all_users", { server_name: "ud-all.test", registration: { enabled: true }, user_directory: { search_all_users: true } }, (h) => {
  it("finds a local user who shares no room", async () => {
    const searcher = await h.http.register("seeker");
    const loner = await h.http.register("loner");
    await setName(h, loner, "Lonely Heart");
    const r = await h.http.call("POST", "/_matrix/client/v3/user_directory/search", { search_term: "heart" }, searcher.access_token);
    assert.deepEqual(r.body, { results: [{ user_id: loner.user_id, display_name: "Lonely Heart" }], limited: false });
  });
});
