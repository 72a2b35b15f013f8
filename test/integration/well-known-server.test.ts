/**
 * /.well-known/matrix/server: served only when the operator names a
 * delegation target (a Pi behind a proxy that takes federation on 443),
 * otherwise 404, so other servers fall through to SRV and port 8448.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";

describeOnEachEngine("server delegation", { federation: { well_known_server: "pi.example.org:443" } }, (h) => {
  it("answers with the configured m.server", async () => {
    const res = await h.http.call("GET", "/.well-known/matrix/server");
    assert.equal(res.status, 200);
    assertSpecResponse("server-server", "wellknown.yaml", "GET", "/matrix/server", 200, res.body);
    assert.deepEqual(res.body, { "m.server": "pi.example.org:443" });
  });
});

describeOnEachEngine("no server delegation", {}, (h) => {
  it("answers 404 M_NOT_FOUND when none is configured", async () => {
    const res = await h.http.call("GET", "/.well-known/matrix/server");
    assert.equal(res.status, 404);
    assert.equal(res.body.errcode, "M_NOT_FOUND");
  });
});
