/**
 * Rooms: creation, membership, sending and reading events.
 * (Being written: see the Client-Server core issue.)
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";

export function registerRooms(_router: Router, _hs: ServerContext): void {}
