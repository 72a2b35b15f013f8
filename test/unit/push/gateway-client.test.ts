/**
 * The push gateway client's guard against server-side request forgery: a
 * gateway on loopback (an IP literal, or a name resolving to it) is refused
 * and never contacted unless private addresses are allowed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GatewayClient } from "../../../src/push/gateway-client.js";

describe("GatewayClient", () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits++;
      req.resume();
      req.on("end", () => res.end(JSON.stringify({ rejected: [] })));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("refuses loopback addresses, literal or resolved, without connecting", async () => {
    const guarded = new GatewayClient(false, 2000);
    for (const host of ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"]) {
      await assert.rejects(guarded.post(`http://${host}:${port}/_matrix/push/v1/notify`, {}), /private/, host);
    }
    assert.equal(hits, 0);
  });

  it("reaches them when private addresses are allowed, and parses the answer", async () => {
    const open = new GatewayClient(true, 2000);
    const answer = await open.post(`http://127.0.0.1:${port}/_matrix/push/v1/notify`, { notification: { devices: [] } });
    assert.deepEqual(answer, { status: 200, body: { rejected: [] } });
    assert.equal(hits, 1);
  });
});
