/**
 * The room DAG, its state, and the accounts that act in it.
 *
 * One schema for SQLite and PostgreSQL: only portable column types, and
 * every query that reads these tables is written once.
 *
 * Events and (type, state_key) pairs get small integer ids (nid), so that
 * state snapshots are rows of integers rather than repeated strings.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("rooms", (t) => {
    t.string("room_id", 255).primary();
    t.string("room_version", 32).notNullable();
    t.string("creator", 255).notNullable();
    t.bigInteger("created_ts").notNullable();
    // The snapshot holding the resolved state at the forward extremities.
    t.integer("current_snapshot").nullable();
  });

  // Every event we hold, with the facts the engine queries on.
  // stream_ordering: the position in the event stream that /sync reads (null for
  // outliers, events we hold only as auth or state and never show in a timeline).
  await knex.schema.createTable("events", (t) => {
    t.increments("nid").primary();
    t.string("event_id", 255).notNullable().unique();
    t.string("room_id", 255).notNullable();
    t.string("type", 255).notNullable();
    t.string("state_key", 255).nullable();
    t.string("sender", 255).notNullable();
    t.bigInteger("depth").notNullable();
    t.bigInteger("origin_server_ts").notNullable();
    t.bigInteger("stream_ordering").nullable().unique();
    t.boolean("outlier").notNullable().defaultTo(false);
    // Why the event failed auth; null when accepted. Rejected events stay so
    // that they are not fetched again, but never enter state or timelines.
    t.text("rejected_reason").nullable();
    // The room state after this event (its own change included).
    t.integer("state_snapshot").nullable();
    t.bigInteger("received_ts").notNullable();
    t.text("json").notNullable();
    t.index(["room_id", "stream_ordering"]);
    t.index(["room_id", "depth"]);
  });

  // DAG edges, by id: a prev or auth event may not be held yet.
  await knex.schema.createTable("event_edges", (t) => {
    t.integer("event_nid").notNullable();
    t.string("prev_event_id", 255).notNullable();
    t.primary(["event_nid", "prev_event_id"]);
    t.index(["prev_event_id"]);
  });
  await knex.schema.createTable("event_auth_edges", (t) => {
    t.integer("event_nid").notNullable();
    t.string("auth_event_id", 255).notNullable();
    t.primary(["event_nid", "auth_event_id"]);
  });

  // The room's current childless events: the prev_events of the next event.
  await knex.schema.createTable("forward_extremities", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("event_id", 255).notNullable();
    t.primary(["room_id", "event_id"]);
  });

  await knex.schema.createTable("state_keys", (t) => {
    t.increments("nid").primary();
    t.string("type", 255).notNullable();
    t.string("state_key", 255).notNullable();
    t.unique(["type", "state_key"]);
  });

  // A snapshot is its parent's entries overlaid by its own. An entry with a
  // null event_nid removes the key (state resolution can drop a key whose
  // every candidate fails auth). parent null: the entries are the whole state.
  await knex.schema.createTable("state_snapshots", (t) => {
    t.increments("id").primary();
    t.string("room_id", 255).notNullable();
    t.integer("parent_id").nullable();
    t.integer("chain_length").notNullable();
  });
  await knex.schema.createTable("state_snapshot_entries", (t) => {
    t.integer("snapshot_id").notNullable();
    t.integer("state_key_nid").notNullable();
    t.integer("event_nid").nullable();
    t.primary(["snapshot_id", "state_key_nid"]);
  });

  // The resolved state at the forward extremities, for fast reads.
  await knex.schema.createTable("current_state", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("type", 255).notNullable();
    t.string("state_key", 255).notNullable();
    t.integer("event_nid").notNullable();
    t.string("event_id", 255).notNullable();
    t.primary(["room_id", "type", "state_key"]);
  });

  // Each user's current membership in each room (local and remote users).
  await knex.schema.createTable("room_memberships", (t) => {
    t.string("room_id", 255).notNullable();
    t.string("user_id", 255).notNullable();
    t.string("membership", 32).notNullable();
    t.string("event_id", 255).notNullable();
    t.string("sender", 255).notNullable();
    t.bigInteger("stream_ordering").nullable();
    t.primary(["room_id", "user_id"]);
    t.index(["user_id", "membership"]);
  });

  await knex.schema.createTable("users", (t) => {
    t.string("user_id", 255).primary();
    t.text("password_hash").nullable();
    t.boolean("admin").notNullable().defaultTo(false);
    t.boolean("deactivated").notNullable().defaultTo(false);
    t.bigInteger("created_ts").notNullable();
  });

  await knex.schema.createTable("devices", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.string("display_name", 255).nullable();
    t.bigInteger("created_ts").notNullable();
    t.bigInteger("last_seen_ts").nullable();
    t.string("last_seen_ip", 64).nullable();
    t.primary(["user_id", "device_id"]);
  });

  // Tokens are stored as their SHA-256, so a copy of the database does not
  // hand out sessions.
  await knex.schema.createTable("access_tokens", (t) => {
    t.string("token_hash", 64).primary();
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).notNullable();
    t.bigInteger("created_ts").notNullable();
    t.bigInteger("expires_ts").nullable();
    t.index(["user_id", "device_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    "access_tokens", "devices", "users", "room_memberships", "current_state",
    "state_snapshot_entries", "state_snapshots", "state_keys", "forward_extremities",
    "event_auth_edges", "event_edges", "events", "rooms",
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
