/**
 * Per-user account data, global (room_id '') and per room, each change
 * stamped with a position in the account-data stream that /sync reads.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("account_data", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.string("type", 255).notNullable();
    t.text("content").notNullable();
    t.bigInteger("stream_id").notNullable();
    t.primary(["user_id", "room_id", "type"]);
    t.index(["user_id", "stream_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("account_data");
}
