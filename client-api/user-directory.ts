/**
 * POST /user_directory/search: users the searcher can see through rooms
 * (or every local user, with user_directory.search_all_users), matched on
 * user id and display name (src/storage/user-directory-store.ts).
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { invalidParam } from "../src/http/errors.js";
import { requireString } from "../src/http/params.js";
import { UserDirectoryStore, directoryWords } from "../src/storage/user-directory-store.js";

const PREFIX = "/_matrix/client/v3";
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 50;

export function registerUserDirectory(router: Router, hs: ServerContext): void {
  const directory = new UserDirectoryStore(hs.db);

  router.post(`${PREFIX}/user_directory/search`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const term = requireString(body, "search_term");
    let limit = DEFAULT_LIMIT;
    if (body.limit !== undefined && body.limit !== null) {
      if (typeof body.limit !== "number" || !Number.isInteger(body.limit) || body.limit < 0) throw invalidParam("limit must be a non-negative integer");
      limit = Math.min(body.limit, MAX_LIMIT);
    }
    const found = await directory.search({
      searcher: me.userId,
      words: directoryWords(term),
      limit,
      allLocalUsers: hs.config.user_directory.search_all_users,
    });
    ctx.body = {
      results: found.results.map((r) => ({
        user_id: r.userId,
        ...(r.displayName !== undefined ? { display_name: r.displayName } : {}),
        ...(r.avatarUrl !== undefined ? { avatar_url: r.avatarUrl } : {}),
      })),
      limited: found.limited,
    };
  });
}
