/** Users' public profiles: the display name and avatar shown in rooms and to other servers. */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("profiles", (t) => {
    t.string("user_id", 255).primary();
    t.text("displayname").nullable();
    t.text("avatar_url").nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("profiles");
}
