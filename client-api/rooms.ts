/**
 * Rooms: creation, membership, sending and reading events.
 * The logic that is not HTTP lives in src/rooms/; the routes are split
 * into this file (createRoom), membership.ts and room-events.ts.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { RoomAccess } from "../src/rooms/access.js";
import { createRoom } from "../src/rooms/create-room.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import { upgradeRoom } from "../src/rooms/upgrade.js";
import { requireString } from "../src/http/params.js";
import { registerMembership } from "./membership.js";
import { registerRoomEvents } from "./room-events.js";

const PREFIX = "/_matrix/client/v3";

export function registerRooms(router: Router, hs: ServerContext): void {
  const store = new RoomClientStore(hs.db);
  const access = new RoomAccess(hs, store);

  router.post(`${PREFIX}/createRoom`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    ctx.body = { room_id: await createRoom(hs, store, me.userId, body) };
  });

  router.post(`${PREFIX}/rooms/:roomId/upgrade`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const version = requireString(body, "new_version");
    ctx.body = { replacement_room: await upgradeRoom(hs, store, me.userId, ctx.params.roomId, version) };
  });

  registerMembership(router, hs, store, access);
  registerRoomEvents(router, hs, store, access);
}
