/** The spec-shape checker must reject what the spec does not allow, or it proves nothing. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { assertSpecResponse, packageRoot } from "../../support/spec.js";

function digestTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  (function walk(dir: string) {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name !== "README.md") out.set(relative(root, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  })(root);
  return out;
}

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

describe("the spec copy in test/matrix-spec", () => {
  const shared = join(packageRoot(), "..", "shared", "spec", "data");
  it("is identical to ../shared/spec, the project's contract", { skip: existsSync(shared) ? undefined : "no ../shared/spec beside the repository" }, () => {
    assert.deepEqual(digestTree(join(packageRoot(), "test", "matrix-spec")), digestTree(shared));
  });
});
