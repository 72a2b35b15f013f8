/**
 * Server-side key backups: each user's backup versions and the encrypted
 * Megolm session keys stored in them. A deleted version keeps its row
 * (deleted = true, its keys gone) so its number is never handed out again
 * and deleting it twice succeeds, as the spec asks.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("key_backup_versions", (t) => {
    t.string("user_id", 255).notNullable();
    t.bigInteger("version").notNullable();
    t.string("algorithm", 255).notNullable();
    t.text("auth_data").notNullable();
    // Bumped whenever the version's stored keys change; the API's etag.
    t.bigInteger("etag").notNullable().defaultTo(0);
    t.boolean("deleted").notNullable().defaultTo(false);
    t.primary(["user_id", "version"]);
  });
  await knex.schema.createTable("key_backup_sessions", (t) => {
    t.string("user_id", 255).notNullable();
    t.bigInteger("version").notNullable();
    t.string("room_id", 255).notNullable();
    t.string("session_id", 255).notNullable();
    t.bigInteger("first_message_index").notNullable();
    t.bigInteger("forwarded_count").notNullable();
    t.boolean("is_verified").notNullable();
    t.text("session_data").notNullable();
    t.primary(["user_id", "version", "room_id", "session_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("key_backup_sessions");
  await knex.schema.dropTableIfExists("key_backup_versions");
}
