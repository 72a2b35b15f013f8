/**
 * X-Matrix request authentication, the ACL rules and the private-address
 * guard, without a network.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateSigningKey } from "../../../src/crypto/keys.js";
import { authenticateRequest, authorizationHeader, parseXMatrix } from "../../../federation/request-auth.js";
import { serverAllowedByAcl } from "../../../federation/inbound-auth.js";
import { isPrivateAddress } from "../../../federation/client.js";
import { MatrixError } from "../../../src/http/errors.js";

describe("X-Matrix", () => {
  const key = generateSigningKey();
  const lookup = async (server: string, keyId: string) => (server === "origin.test" && keyId === key.keyId ? key.publicKey : undefined);

  it("parses quoted and unquoted parameters in any case and order", () => {
    assert.deepEqual(parseXMatrix('X-Matrix origin=origin.test,Key="ed25519:a_1",sig="abc\\"d", destination="dest.test"'), {
      origin: "origin.test", key: "ed25519:a_1", sig: 'abc"d', destination: "dest.test",
    });
    assert.equal(parseXMatrix("Bearer abc"), undefined);
    assert.equal(parseXMatrix('X-Matrix origin="o"'), undefined);
  });

  it("verifies what it signs, content included, and nothing else", async () => {
    const body = { a: 1, b: ["x"] };
    const header = authorizationHeader("PUT", "/_matrix/federation/v1/send/1", "origin.test", "dest.test", body, key);
    assert.equal(await authenticateRequest([header], "PUT", "/_matrix/federation/v1/send/1", "dest.test", body, lookup), "origin.test");
    const refuse = (p: Promise<unknown>) => assert.rejects(p, (e) => e instanceof MatrixError && e.status === 401 && e.errcode === "M_UNAUTHORIZED");
    await refuse(authenticateRequest([header], "PUT", "/_matrix/federation/v1/send/1", "dest.test", { a: 2, b: ["x"] }, lookup));
    await refuse(authenticateRequest([header], "POST", "/_matrix/federation/v1/send/1", "dest.test", body, lookup));
    await refuse(authenticateRequest([header], "PUT", "/_matrix/federation/v1/send/1", "other.test", body, lookup));
    await refuse(authenticateRequest([], "PUT", "/_matrix/federation/v1/send/1", "dest.test", body, lookup));
  });
});

describe("server ACLs", () => {
  it("denies before it allows, and IP literals only when allowed", () => {
    const acl = { allow: ["*"], deny: ["evil.example", "*.bad.example"], allow_ip_literals: false };
    assert.equal(serverAllowedByAcl(acl, "good.example"), true);
    assert.equal(serverAllowedByAcl(acl, "good.example:8448"), true);
    assert.equal(serverAllowedByAcl(acl, "evil.example"), false);
    assert.equal(serverAllowedByAcl(acl, "x.bad.example"), false);
    assert.equal(serverAllowedByAcl(acl, "1.2.3.4"), false);
    assert.equal(serverAllowedByAcl(acl, "[::1]:8448"), false);
    assert.equal(serverAllowedByAcl({ allow: ["*"] }, "1.2.3.4:8448"), true);
    assert.equal(serverAllowedByAcl({ allow: ["ok.example"] }, "other.example"), false);
    assert.equal(serverAllowedByAcl({}, "any.example"), false, "no allow list allows nobody");
    assert.equal(serverAllowedByAcl({ allow: ["o?.example"] }, "ok.example"), true);
  });
});

describe("private addresses", () => {
  it("knows loopback, private, link-local and mapped addresses", () => {
    for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.20", "169.254.1.1", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"]) {
      assert.equal(isPrivateAddress(a), true, a);
    }
    for (const a of ["8.8.8.8", "2001:4860:4860::8888", "172.32.0.1", "::ffff:8.8.8.8"]) assert.equal(isPrivateAddress(a), false, a);
  });
});
