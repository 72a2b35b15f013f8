/**
 * The ordered list of migrations. Listed here rather than discovered on
 * disk so that the compiled server finds them wherever it is installed.
 */
import type { Knex } from "knex";
import * as m0001 from "./0001_rooms_and_accounts.js";
import * as m0002 from "./0002_room_client.js";
import * as m0003 from "./0003_sync.js";
import * as m0004 from "./0004_profiles.js";
import * as m0005 from "./0005_account_data.js";
import * as m0006 from "./0006_receipts.js";
import * as m0007 from "./0007_aliases.js";
import * as m0008 from "./0008_refresh_tokens.js";
import * as m0009 from "./0009_registration_tokens.js";
import * as m0010 from "./0010_e2ee.js";
import * as m0011 from "./0011_push.js";
import * as m0012 from "./0012_media.js";
import * as m0013 from "./0013_key_backup.js";
import * as m0014 from "./0014_relations.js";
import * as m0015 from "./0015_search.js";
import * as m0016 from "./0016_federation.js";
import * as m0017 from "./0017_dehydrated_devices.js";

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: Migration]> = [
  ["0001_rooms_and_accounts", m0001],
  ["0002_room_client", m0002],
  ["0003_sync", m0003],
  ["0004_profiles", m0004],
  ["0005_account_data", m0005],
  ["0006_receipts", m0006],
  ["0007_aliases", m0007],
  ["0008_refresh_tokens", m0008],
  ["0009_registration_tokens", m0009],
  ["0010_e2ee", m0010],
  ["0011_push", m0011],
  ["0012_media", m0012],
  ["0013_key_backup", m0013],
  ["0014_relations", m0014],
  ["0015_search", m0015],
  ["0016_federation", m0016],
  ["0017_dehydrated_devices", m0017],
];

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return MIGRATIONS.map(([name]) => name);
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};
