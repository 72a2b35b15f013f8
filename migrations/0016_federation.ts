/**
 * Federation: other servers' signing keys as fetched (kept after they
 * expire, for old events), inbound transactions already processed (a
 * retried transaction gets the same answer), and the outbound queue: one
 * row per PDU or EDU waiting for its destination, deleted once that
 * destination has acknowledged it, plus each destination's retry state.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("server_keys", (t) => {
    t.string("server_name", 255).notNullable();
    t.string("key_id", 255).notNullable();
    t.string("verify_key", 64).notNullable();
    // Until when the key may verify new signatures; for an old key, when it expired.
    t.bigInteger("valid_until_ts").notNullable();
    t.bigInteger("fetched_ts").notNullable();
    t.primary(["server_name", "key_id"]);
  });

  await knex.schema.createTable("federation_inbound_txns", (t) => {
    t.string("origin", 255).notNullable();
    t.string("txn_id", 255).notNullable();
    t.text("response").notNullable();
    t.bigInteger("received_ts").notNullable();
    t.primary(["origin", "txn_id"]);
  });

  await knex.schema.createTable("federation_outbox", (t) => {
    t.increments("id").primary();
    t.string("destination", 255).notNullable();
    // "pdu" or "edu"
    t.string("kind", 8).notNullable();
    t.text("json").notNullable();
    t.bigInteger("created_ts").notNullable();
    t.index(["destination", "id"]);
  });

  // The stripped state another server sent with an invite to a room we are not in, for the invitee's /sync.
  await knex.schema.createTable("remote_invite_state", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("user_id", 255).notNullable();
    t.text("state").notNullable();
    t.primary(["room_id", "user_id"]);
  });

  await knex.schema.createTable("federation_destinations", (t) => {
    t.string("destination", 255).primary();
    t.bigInteger("retry_at_ts").nullable();
    t.bigInteger("retry_interval_ms").notNullable().defaultTo(0);
    t.bigInteger("last_success_ts").nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["remote_invite_state", "federation_destinations", "federation_outbox", "federation_inbound_txns", "server_keys"]) {
    await knex.schema.dropTableIfExists(table);
  }
}
