/**
 * Server discovery in the spec's order, with the lookups faked: IP
 * literals and explicit ports first, then .well-known delegation (itself
 * resolved by literal, port, SRV or 8448), then SRV (_matrix-fed before
 * the older _matrix), then port 8448. Host header and certificate name per
 * step.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseWellKnown, pickSrv, resolveServer, splitServerName, type DiscoveryLookups, type SrvRecord } from "../../../federation/resolve.js";

function lookups(wellKnown: Record<string, string>, srv: Record<string, SrvRecord[]>): DiscoveryLookups & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    wellKnown: async (host) => {
      asked.push(`wk:${host}`);
      return wellKnown[host];
    },
    srv: async (name) => {
      asked.push(`srv:${name}`);
      return srv[name] ?? [];
    },
  };
}
const rec = (name: string, port: number, priority = 10, weight = 5): SrvRecord => ({ name, port, priority, weight });

describe("server discovery", () => {
  it("uses IP literals as they are, with 8448 unless a port is given, and asks nothing", async () => {
    const l = lookups({}, {});
    assert.deepEqual(await resolveServer("1.2.3.4", l), { host: "1.2.3.4", port: 8448, hostHeader: "1.2.3.4", tlsName: "1.2.3.4" });
    assert.deepEqual(await resolveServer("[::1]:8000", l), { host: "::1", port: 8000, hostHeader: "[::1]:8000", tlsName: "::1" });
    assert.deepEqual(l.asked, []);
  });

  it("uses a hostname with an explicit port without delegation", async () => {
    const l = lookups({ "example.org": "other.org" }, {});
    assert.deepEqual(await resolveServer("example.org:9000", l), { host: "example.org", port: 9000, hostHeader: "example.org:9000", tlsName: "example.org" });
    assert.deepEqual(l.asked, []);
  });

  it("follows .well-known: to an IP, to a name with a port, to a name via SRV, to a name on 8448", async () => {
    assert.deepEqual(await resolveServer("a.org", lookups({ "a.org": "5.6.7.8:1234" }, {})), { host: "5.6.7.8", port: 1234, hostHeader: "5.6.7.8:1234", tlsName: "5.6.7.8" });
    assert.deepEqual(await resolveServer("a.org", lookups({ "a.org": "m.a.org:443" }, {})), { host: "m.a.org", port: 443, hostHeader: "m.a.org:443", tlsName: "m.a.org" });
    const viaSrv = lookups({ "a.org": "m.a.org" }, { "_matrix-fed._tcp.m.a.org": [rec("box.a.org", 8500)] });
    // The Host header and certificate are the delegated name's, not the SRV target's.
    assert.deepEqual(await resolveServer("a.org", viaSrv), { host: "box.a.org", port: 8500, hostHeader: "m.a.org", tlsName: "m.a.org" });
    assert.deepEqual(await resolveServer("a.org", lookups({ "a.org": "m.a.org" }, {})), { host: "m.a.org", port: 8448, hostHeader: "m.a.org", tlsName: "m.a.org" });
  });

  it("without delegation tries _matrix-fed._tcp, then the deprecated _matrix._tcp, then 8448", async () => {
    const both = lookups({}, { "_matrix-fed._tcp.b.org": [rec("new.b.org", 1)], "_matrix._tcp.b.org": [rec("old.b.org", 2)] });
    assert.equal((await resolveServer("b.org", both)).host, "new.b.org");
    const old = lookups({}, { "_matrix._tcp.b.org": [rec("old.b.org", 2)] });
    assert.deepEqual(await resolveServer("b.org", old), { host: "old.b.org", port: 2, hostHeader: "b.org", tlsName: "b.org" });
    assert.deepEqual(old.asked, ["wk:b.org", "srv:_matrix-fed._tcp.b.org", "srv:_matrix._tcp.b.org"]);
    assert.deepEqual(await resolveServer("b.org", lookups({}, {})), { host: "b.org", port: 8448, hostHeader: "b.org", tlsName: "b.org" });
  });

  it("picks the lowest priority, then the highest weight, and ignores '.' (no service)", () => {
    assert.equal(pickSrv([rec("x", 1, 20, 100), rec("y", 2, 10, 1), rec("z", 3, 10, 9)])?.name, "z");
    assert.equal(pickSrv([rec(".", 0)]), undefined);
  });

  it("accepts only well-known bodies with a usable m.server", () => {
    assert.equal(parseWellKnown({ "m.server": "m.example.org:443" }), "m.example.org:443");
    assert.equal(parseWellKnown({ "m.server": 5 }), undefined);
    assert.equal(parseWellKnown({}), undefined);
    assert.equal(parseWellKnown("nope"), undefined);
    assert.equal(parseWellKnown({ "m.server": "a:b:c" }), undefined);
  });

  it("splits server names, IPv6 included", () => {
    assert.deepEqual(splitServerName("example.org"), { hostname: "example.org", port: undefined });
    assert.deepEqual(splitServerName("[2001:db8::1]:8448"), { hostname: "2001:db8::1", port: 8448 });
  });
});
