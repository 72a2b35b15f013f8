/**
 * /sync and filters. (Being written: see the Client-Server core issue.)
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";

export function registerSync(_router: Router, _hs: ServerContext): void {}
