/** Registration tokens: what someone must present to sign up when the server requires one. */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("registration_tokens", (t) => {
    t.string("token", 255).primary();
    t.integer("uses_allowed").nullable();
    t.integer("completed").notNullable().defaultTo(0);
    t.bigInteger("expiry_time").nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("registration_tokens");
}
