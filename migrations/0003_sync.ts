/** Filters clients upload once and then name by id in every /sync. */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("filters", (t) => {
    t.string("user_id", 255).notNullable();
    t.increments("filter_id").primary();
    t.text("json").notNullable();
    t.index(["user_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("filters");
}
