/**
 * End-to-end encryption: what the server stores and relays without ever
 * reading it. Device identity keys, one-time and fallback keys,
 * cross-signing keys and the signatures users make on each other's keys,
 * the device-list change stream, and to-device messages waiting for their
 * device.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // The signed device_keys object as uploaded, kept verbatim: clients check its signatures.
  await knex.schema.createTable("e2e_device_keys", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.text("key_json").notNullable();
    t.primary(["user_id", "device_id"]);
  });

  await knex.schema.createTable("e2e_one_time_keys", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("algorithm", 64).notNullable();
    t.string("key_id", 255).notNullable();
    t.text("key_json").notNullable();
    t.primary(["user_id", "device_id", "algorithm", "key_id"]);
  });

  // One fallback key per device and algorithm; `used` once claimed, until replaced.
  await knex.schema.createTable("e2e_fallback_keys", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("algorithm", 64).notNullable();
    t.string("key_id", 255).notNullable();
    t.text("key_json").notNullable();
    t.boolean("used").notNullable().defaultTo(false);
    t.primary(["user_id", "device_id", "algorithm"]);
  });

  // master, self_signing, user_signing: one each per user.
  await knex.schema.createTable("e2e_cross_signing_keys", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("usage", 32).notNullable();
    t.text("key_json").notNullable();
    t.primary(["user_id", "usage"]);
  });

  // Signatures uploaded through /keys/signatures/upload, on a device key or
  // a cross-signing key (target_key_id is a device id or the public key).
  await knex.schema.createTable("e2e_signatures", (t) => {
    t.string("target_user_id", 255).notNullable();
    t.string("target_key_id", 255).notNullable();
    t.string("signer_user_id", 255).notNullable();
    t.string("signer_key_id", 255).notNullable();
    t.text("signature").notNullable();
    t.primary(["target_user_id", "target_key_id", "signer_user_id", "signer_key_id"]);
  });

  // One row per change of a user's devices or cross-signing keys: /sync and
  // /keys/changes tell the users who share a room with them.
  await knex.schema.createTable("device_list_changes", (t) => {
    t.bigInteger("stream_id").primary();
    t.string("user_id", 255).notNullable();
    t.index(["user_id", "stream_id"]);
  });

  await knex.schema.createTable("to_device_messages", (t) => {
    t.bigInteger("stream_id").primary();
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("sender", 255).notNullable();
    t.string("type", 255).notNullable();
    t.text("content").notNullable();
    t.index(["user_id", "device_id", "stream_id"]);
  });

  // PUT /sendToDevice is idempotent per sender device and transaction id.
  await knex.schema.createTable("to_device_txns", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("txn_id", 255).notNullable();
    t.bigInteger("created_ts").notNullable();
    t.primary(["user_id", "device_id", "txn_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "to_device_txns", "to_device_messages", "device_list_changes", "e2e_signatures", "e2e_cross_signing_keys",
    "e2e_fallback_keys", "e2e_one_time_keys", "e2e_device_keys",
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
