/**
 * Read receipts: per room, receipt type, user and thread, the event read
 * up to, with a position in the receipts stream that /sync reads.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("receipts", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("receipt_type", 64).notNullable();
    t.string("user_id", 255).notNullable();
    // '' for an unthreaded receipt, "main" or a thread root id otherwise.
    t.string("thread_id", 255).notNullable();
    t.string("event_id", 255).notNullable();
    t.bigInteger("ts").notNullable();
    t.bigInteger("stream_id").notNullable();
    t.primary(["room_id", "receipt_type", "user_id", "thread_id"]);
    t.index(["room_id", "stream_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("receipts");
}
