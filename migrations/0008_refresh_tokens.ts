/** Refresh tokens: a session whose short-lived access token the client renews with POST /refresh. */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("refresh_tokens", (t) => {
    t.string("token_hash", 64).primary();
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.bigInteger("created_ts").notNullable();
    t.index(["user_id", "device_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("refresh_tokens");
}
