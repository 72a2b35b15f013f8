/**
 * FederationRoomSource's state at an event: /state when the server serves
 * it, else /state_ids and the events one by one (Complement's test servers
 * serve only /state_ids: TestCorruptedAuthChain). Other failures pass on.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FederationError, type FederationClient } from "../../../federation/client.js";
import { FederationRoomSource } from "../../../federation/room-source.js";

function stubClient(routes: Record<string, (query: Record<string, unknown> | undefined) => unknown>, seen: string[]): FederationClient {
  return {
    async request(server: string, _method: string, path: string, opts?: { query?: Record<string, unknown> }) {
      seen.push(path);
      for (const [prefix, answer] of Object.entries(routes)) if (path.startsWith(prefix)) return answer(opts?.query);
      throw new FederationError(server, 404, undefined, `GET ${path}: 404`);
    },
  } as unknown as FederationClient;
}

describe("FederationRoomSource.stateAt", () => {
  it("uses /state when served", async () => {
    const seen: string[] = [];
    const source = new FederationRoomSource(stubClient({ "/_matrix/federation/v1/state/": () => ({ pdus: [{ event_id: "$a" }], auth_chain: [{ event_id: "$b" }] }) }, seen));
    const got = await source.stateAt("remote.example", "!r:remote.example", "$e");
    assert.deepEqual(got, { pdus: [{ event_id: "$a" }], authChain: [{ event_id: "$b" }] });
    assert.equal(seen.length, 1);
  });

  it("falls back to /state_ids and single events when /state is not served", async () => {
    const seen: string[] = [];
    const source = new FederationRoomSource(stubClient({
      "/_matrix/federation/v1/state_ids/": (q) => {
        assert.equal(q?.event_id, "$e");
        return { pdu_ids: ["$s1", "$s2"], auth_chain_ids: ["$c1", "$gone"] };
      },
      "/_matrix/federation/v1/event/%24s": () => ({ pdus: [{ kind: "state" }] }),
      "/_matrix/federation/v1/event/%24c1": () => ({ pdus: [{ kind: "auth" }] }),
    }, seen));
    const got = await source.stateAt("remote.example", "!r:remote.example", "$e");
    assert.equal(got.pdus.length, 2);
    assert.deepEqual(got.authChain, [{ kind: "auth" }], "an event the server cannot give is left out");
    assert.ok(seen[0].startsWith("/_matrix/federation/v1/state/"));
  });

  it("passes on a Matrix refusal of /state", async () => {
    const source = new FederationRoomSource({
      async request(server: string) {
        throw new FederationError(server, 403, { errcode: "M_FORBIDDEN" }, "403");
      },
    } as unknown as FederationClient);
    await assert.rejects(source.stateAt("remote.example", "!r:remote.example", "$e"), (err: unknown) => err instanceof FederationError && err.status === 403);
  });
});
