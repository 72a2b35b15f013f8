/** The spec-shape checker must reject what the spec does not allow, or it proves nothing. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertSpecResponse } from "../../support/spec.js";

describe("assertSpecResponse", () => {
  it("accepts a body the spec allows", () => {
    assertSpecResponse("client-server", "whoami.yaml", "GET", "/account/whoami", 200, { user_id: "@a:b", device_id: "D", is_guest: false });
  });
  it("rejects a body missing a required field or with a wrong type", () => {
    assert.throws(() => assertSpecResponse("client-server", "whoami.yaml", "GET", "/account/whoami", 200, { device_id: "D" }), /does not match the spec/);
    assert.throws(() => assertSpecResponse("client-server", "whoami.yaml", "GET", "/account/whoami", 200, { user_id: 7 }), /does not match the spec/);
  });
  it("follows $refs across files (error bodies)", () => {
    assert.throws(() => assertSpecResponse("client-server", "registration.yaml", "POST", "/register", 400, { error: "no code" }), /errcode/);
  });
  it("refuses a status the spec does not define for the operation", () => {
    assert.throws(() => assertSpecResponse("client-server", "whoami.yaml", "GET", "/account/whoami", 418, {}), /defines no 418/);
  });
});
