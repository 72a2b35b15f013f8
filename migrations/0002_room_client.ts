/**
 * Tables the Client-Server room endpoints need:
 * - `room_txn_ids`: a client's transaction id → the event it produced, so a
 *   retried PUT /send or /redact answers the same event and persists nothing new.
 * - `redactions`: accepted redactions (redaction event id → redacted event id),
 *   written by the persist pipeline with the redaction, read whenever an
 *   event is shown to a client.
 * - `room_visibility`: public/private as asked at /createRoom, for the directory.
 * - `room_forgotten`: rooms a user has forgotten (POST /forget); cleared on rejoin.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("room_txn_ids", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("txn_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.string("event_id", 255).notNullable();
    t.bigInteger("created_ts").notNullable();
    t.primary(["user_id", "device_id", "txn_id"]);
  });
  await knex.schema.createTable("redactions", (t) => {
    t.string("event_id", 255).primary();
    t.string("redacts", 255).notNullable();
    t.index(["redacts"]);
  });
  await knex.schema.createTable("room_visibility", (t) => {
    t.string("room_id", 255).primary();
    t.string("visibility", 16).notNullable();
  });
  await knex.schema.createTable("room_forgotten", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.primary(["user_id", "room_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["room_forgotten", "room_visibility", "redactions", "room_txn_ids"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
