import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { ConfigError, SCHEMA, defaultConfigPath, loadConfig } from "../../../src/config.js";

describe("config", () => {
  it("documents every setting it validates, and validates every setting it documents", () => {
    const yaml = parse(readFileSync(defaultConfigPath(), "utf8")) as Record<string, unknown>;
    const keys = (o: Record<string, unknown>, prefix = ""): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        typeof v === "object" && v !== null && !Array.isArray(v) ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    assert.deepEqual(keys(yaml).sort(), keys(SCHEMA as Record<string, unknown>).sort());
    // And every setting in the file carries a comment line above it.
    const lines = readFileSync(defaultConfigPath(), "utf8").split("\n");
    lines.forEach((line, i) => {
      if (/^\s*[a-z_]+:/.test(line) && !/:\s*$/.test(line)) assert.match(lines[i - 1], /^\s*#/, `no comment above: ${line}`);
    });
  });

  it("starts from the embedded defaults with no config at all", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const c = loadConfig({ env: {}, overrides: { data_dir: dir } });
    assert.equal(c.server_name, "localhost");
    assert.equal(c.port, 8008);
    assert.equal(c.bind_address, "127.0.0.1");
    assert.equal(c.database.engine, "sqlite");
    assert.equal(c.default_room_version, "12");
  });

  it("layers a config file and then environment variables over the defaults", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const file = join(dir, "hs.yaml");
    writeFileSync(file, "server_name: example.org\nport: 9000\ndatabase:\n  sqlite_synchronous: normal\n");
    const c = loadConfig({ configPath: file, env: { PIMATRIX_PORT: "9100", PIMATRIX_DATABASE__POSTGRES_POOL_MAX: "3" }, overrides: { data_dir: dir } });
    assert.equal(c.server_name, "example.org");
    assert.equal(c.port, 9100);
    assert.equal(c.database.sqlite_synchronous, "normal");
    assert.equal(c.database.postgres_pool_max, 3);
  });

  it("reads <data_dir>/homeserver.yaml when no file is named", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    writeFileSync(join(dir, "homeserver.yaml"), "server_name: pi.example\n");
    assert.equal(loadConfig({ env: { PIMATRIX_DATA_DIR: dir } }).server_name, "pi.example");
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ["port", { port: 70000 }, /invalid setting port: expected an integer/],
    ["port type", { port: "eighty" }, /invalid setting port/],
    ["server_name", { server_name: "not a name!" }, /invalid setting server_name/],
    ["engine", { database: { engine: "mysql" } }, /invalid setting database\.engine: expected one of sqlite, postgres/],
    ["room version", { default_room_version: "13" }, /invalid setting default_room_version: unknown room version/],
    ["unknown", { colour: "blue" }, /invalid setting colour: unknown setting/],
    ["postgres url", { database: { engine: "postgres" } }, /invalid setting database\.postgres_url: required/],
  ];
  for (const [name, overrides, message] of bad) {
    it(`stops with a message naming the setting: ${name}`, () => {
      assert.throws(() => loadConfig({ env: {}, overrides }), (e: unknown) => e instanceof ConfigError && message.test(e.message));
    });
  }

  it("names a bad environment variable's setting too", () => {
    assert.throws(() => loadConfig({ env: { PIMATRIX_LOG_LEVEL: "loud" } }), /invalid setting log_level/);
  });
});
