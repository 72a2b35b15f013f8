/**
 * The media repository:
 *
 * - `media`: one row per mxc URI we hold, local uploads and cached remote
 *   media alike, keyed by (origin, media_id). A row with a null
 *   `uploaded_ts` is an mxc URI created with /create whose content has not
 *   arrived (it lapses at `expires_ts`); a row with content has its size,
 *   SHA-256 and content type. The bytes are on disk under
 *   <data_dir>/media, written and fsynced before the row commits.
 * - `media_thumbnails`: thumbnails generated on demand and kept on disk,
 *   one per (media, method, box, animated): `width`/`height` are what was
 *   produced for that box.
 */
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("media", (t) => {
    t.string("origin", 255).notNullable();
    t.string("media_id", 255).notNullable();
    t.string("content_type", 255).nullable();
    t.text("upload_name").nullable();
    t.bigInteger("size").nullable();
    t.string("sha256", 64).nullable();
    // When the row was made: the upload or /create for local media, the fetch for cached remote media.
    t.bigInteger("created_ts").notNullable();
    t.bigInteger("uploaded_ts").nullable();
    t.bigInteger("expires_ts").nullable();
    t.string("uploader", 255).nullable();
    t.primary(["origin", "media_id"]);
    t.index(["uploader", "uploaded_ts"], "media_uploader");
  });
  await knex.schema.createTable("media_thumbnails", (t) => {
    t.string("origin", 255).notNullable();
    t.string("media_id", 255).notNullable();
    t.string("method", 8).notNullable();
    t.integer("box_width").notNullable();
    t.integer("box_height").notNullable();
    t.boolean("animated").notNullable();
    t.integer("width").notNullable();
    t.integer("height").notNullable();
    t.string("content_type", 64).notNullable();
    t.bigInteger("size").notNullable();
    t.bigInteger("created_ts").notNullable();
    t.primary(["origin", "media_id", "method", "box_width", "box_height", "animated"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("media_thumbnails");
  await knex.schema.dropTable("media");
}
