/** Room aliases of this server: #name:server_name -> room id, and who made each. */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("room_aliases", (t) => {
    t.string("alias", 255).primary();
    t.string("room_id", 255).notNullable();
    t.string("creator", 255).notNullable();
    t.index(["room_id"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists("room_aliases");
}
