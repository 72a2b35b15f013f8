/**
 * Push notifications:
 *
 * - `push_rules`: each user's own rules, per kind, ordered by `priority`
 *   (higher is more important); JSON actions and conditions.
 * - `push_rule_changes`: a user's changes to server-default rules (enabled,
 *   actions); the defaults themselves live in src/push/default-rules.ts, so
 *   a newer server's defaults reach every user.
 * - `event_push_pending`: one row per event that notifies anyone, written
 *   in the event's own transaction: its recipients and their actions (JSON).
 * - `event_push_actions`: one row per (user, event) that notifies, expanded
 *   from the pending rows shortly after: what /sync counts, /notifications
 *   lists and pushers deliver. `thread_id` is "main" for the main timeline.
 * - `push_read_marks`: how far a user has read by sending (their own event
 *   marks what is before it read, as a receipt would).
 * - `pushers`: per user, app and pushkey; `last_stream_ordering` is how far
 *   notifications have been delivered to the gateway, so delivery resumes
 *   after a restart where it stopped; `device_id` the device that set it
 *   (a device that logs out or is deleted takes its pushers with it).
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("push_rules", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("kind", 16).notNullable();
    t.string("rule_id", 255).notNullable();
    t.integer("priority").notNullable();
    t.integer("enabled").notNullable();
    t.text("actions").notNullable();
    t.text("conditions").nullable();
    t.text("pattern").nullable();
    t.primary(["user_id", "kind", "rule_id"]);
  });
  await knex.schema.createTable("push_rule_changes", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("kind", 16).notNullable();
    t.string("rule_id", 255).notNullable();
    t.integer("enabled").nullable();
    t.text("actions").nullable();
    t.primary(["user_id", "kind", "rule_id"]);
  });
  await knex.schema.createTable("event_push_pending", (t) => {
    t.bigInteger("stream_ordering").primary();
    t.string("event_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.string("thread_id", 255).notNullable();
    t.bigInteger("ts").notNullable();
    t.text("recipients").notNullable();
    t.index(["room_id", "stream_ordering"]);
  });
  await knex.schema.createTable("event_push_actions", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("event_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.bigInteger("stream_ordering").notNullable();
    t.string("thread_id", 255).notNullable();
    // 0 or 1, so both engines can SUM them.
    t.integer("highlight").notNullable();
    t.text("actions").notNullable();
    t.bigInteger("ts").notNullable();
    // One index by user only: every recipient of an event lands on a page of its own in such
    // an index, so each costs about as much to write as the table (docs/performance.md).
    t.index(["user_id", "room_id", "stream_ordering"]);
    // For pruning old rows; cheap to keep, unlike the per-user index: new rows only ever land at its end.
    t.index(["ts"]);
  });
  await knex.schema.createTable("push_read_marks", (t) => {
    t.string("user_id", 255).notNullable();
    t.string("room_id", 255).notNullable();
    t.string("thread_id", 255).notNullable();
    t.bigInteger("stream_ordering").notNullable();
    t.primary(["user_id", "room_id", "thread_id"]);
  });
  await knex.schema.createTable("pushers", (t) => {
    t.increments("id").primary();
    t.string("user_id", 255).notNullable();
    t.string("device_id", 255).nullable();
    t.string("app_id", 64).notNullable();
    t.string("pushkey", 512).notNullable();
    t.string("kind", 32).notNullable();
    t.string("app_display_name", 255).notNullable();
    t.string("device_display_name", 255).notNullable();
    t.string("profile_tag", 255).nullable();
    t.string("lang", 64).notNullable();
    t.text("data").notNullable();
    t.bigInteger("pushkey_ts").notNullable();
    t.bigInteger("last_stream_ordering").notNullable();
    t.unique(["user_id", "app_id", "pushkey"]);
    t.index(["app_id", "pushkey"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ["pushers", "push_read_marks", "event_push_actions", "event_push_pending", "push_rule_changes", "push_rules"]) {
    await knex.schema.dropTableIfExists(t);
  }
}
