/**
 * The command line as an operator uses it: the compiled server started as a
 * process with no config, register-user, generate-config, migrate.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config.js";
import { openDatabase } from "../../src/storage/database.js";
import { AccountStore } from "../../src/storage/account-store.js";

const MAIN = fileURLToPath(new URL("../../src/main.js", import.meta.url));

function cli(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
}

describe("command line", () => {
  it("start: serves /versions on the configured port with no config file, then stops on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const child = spawn(process.execPath, [MAIN, "start"], {
      env: { ...process.env, PIMATRIX_DATA_DIR: dir, PIMATRIX_PORT: "0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 15_000);
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /"msg":"listening","url":"([^"]+)"/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const res = await fetch(`${url}/_matrix/client/versions`);
    assert.equal(res.status, 200);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(readFileSync(join(dir, "signing.key"), "utf8"), /^ed25519 /);
  });

  it("register-user: creates an admin user whose password checks out, and refuses a duplicate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const env = { PIMATRIX_DATA_DIR: dir, PIMATRIX_SERVER_NAME: "club.example" };
    const ok = cli(["register-user", "alice", "--password", "s3cret pass", "--admin"], env);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /created @alice:club\.example \(admin\)/);
    const again = cli(["register-user", "@alice:club.example", "--password", "x"], env);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists/);
    const bad = cli(["register-user", "Alice!", "--password", "x"], env);
    assert.equal(bad.status, 2);

    const db = openDatabase(loadConfig({ env: {}, overrides: { data_dir: dir } }));
    try {
      const accounts = new AccountStore(db);
      assert.deepEqual((await accounts.getUser("@alice:club.example"))?.admin, true);
      assert.equal(await accounts.checkPassword("@alice:club.example", "s3cret pass"), true);
      assert.equal(await accounts.checkPassword("@alice:club.example", "wrong"), false);
    } finally {
      await db.close();
    }
  });

  it("generate-config writes a valid file the server then reads, and never overwrites it", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const env = { PIMATRIX_DATA_DIR: dir };
    const first = cli(["generate-config", "--server-name", "pi.school.example"], env);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(loadConfig({ env }).server_name, "pi.school.example");
    const second = cli(["generate-config"], env);
    assert.equal(second.status, 1);
  });

  it("an invalid setting stops the server with a message naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const res = cli(["start"], { PIMATRIX_DATA_DIR: dir, PIMATRIX_PORT: "99999" });
    assert.equal(res.status, 78);
    assert.match(res.stderr, /invalid setting port/);
  });

  it("migrate brings a new database up to date, then reports it is", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const first = cli(["migrate"], { PIMATRIX_DATA_DIR: dir });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /applied: 0001_rooms_and_accounts, 0002_room_client, 0003_sync, 0004_profiles, 0005_account_data, 0006_receipts, 0007_aliases, 0008_refresh_tokens, 0009_registration_tokens, 0010_e2ee, 0011_push, 0012_media, 0013_key_backup, 0014_relations, 0015_search, 0016_federation, 0017_dehydrated_devices/);
    assert.match(cli(["migrate"], { PIMATRIX_DATA_DIR: dir }).stdout, /schema is up to date/);
  });
});
