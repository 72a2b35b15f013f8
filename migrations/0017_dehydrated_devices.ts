/**
 * Dehydrated devices (MSC3814, as Element ships it): at most one per
 * user, a device with keys but no session, whose encrypted state
 * (`device_data`, opaque to us) a new login of the user downloads to read
 * the to-device messages (room keys) that arrived while no device of
 * theirs was online. The device itself is an ordinary `devices` row.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("dehydrated_devices", (t) => {
    t.string("user_id", 255).primary();
    t.string("device_id", 255).notNullable();
    t.text("device_data").notNullable();
    t.bigInteger("created_ts").notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("dehydrated_devices");
}
