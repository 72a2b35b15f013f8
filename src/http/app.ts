/**
 * The koa application both API surfaces mount on: Matrix errors, CORS
 * (Element on the web calls from another origin), and the spec's answer
 * to unknown endpoints.
 */
import Koa, { type Context, type Next } from "koa";
import type Router from "@koa/router";
import { UnknownRoomError } from "../engine/local-events.js";
import { AuthError, EventFormatError, EventTooLargeError } from "../room/types.js";
import { MatrixError, unrecognized } from "./errors.js";
import { CanonicalJsonError } from "../crypto/canonical-json.js";
import type { Logger } from "../logger.js";

const CORS_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization, Date",
};

export function createApp(routers: Router[], log: Logger): Koa {
  const app = new Koa();
  app.proxy = false;
  app.use(async (ctx: Context, next: Next) => {
    ctx.set(CORS_HEADERS);
    if (ctx.method === "OPTIONS") {
      ctx.status = 204;
      return;
    }
    // The legacy r0 prefix (Matrix 1.0) still reaches every endpoint it had, which v3 kept unchanged.
    if (ctx.path.startsWith("/_matrix/client/r0/")) ctx.path = "/_matrix/client/v3/" + ctx.path.slice("/_matrix/client/r0/".length);
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw unrecognized();
    } catch (err) {
      const matrix = toMatrixError(err);
      // 500 is a failure here; 502 and 504 are another server (or a web page, or an upload still under way) not answering.
      if (matrix.status === 500) log.error("request failed", { method: ctx.method, path: ctx.path, err: String((err as Error)?.stack ?? err) });
      else if (matrix.status > 500) log.info("request not served", { method: ctx.method, path: ctx.path, errcode: matrix.errcode, error: matrix.message });
      ctx.status = matrix.status;
      ctx.body = matrix.toJSON();
    }
    // JSON answers say plain application/json, as the spec's examples do (koa would add "; charset=utf-8", which strict clients refuse).
    if (ctx.response.get("Content-Type") === "application/json; charset=utf-8") ctx.set("Content-Type", "application/json");
  });
  // What koa reports outside a handler: mostly clients that hung up mid-request (an upload cut off), which are no failure here.
  app.on("error", (err: { code?: string; message?: string; stack?: string }) => {
    const code = String(err?.code ?? "");
    const hungUp = code.startsWith("HPE_") || ["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"].includes(code);
    if (hungUp) log.debug("client hung up", { code, err: String(err?.message ?? err) });
    else log.error("unhandled server error", { err: String(err?.stack ?? err) });
  });
  for (const router of routers) {
    app.use(router.routes());
    // A known path with the wrong method: the spec asks for 405 M_UNRECOGNIZED.
    app.use(router.allowedMethods({ throw: true, methodNotAllowed: () => new MatrixError(405, "M_UNRECOGNIZED", "Method not allowed") }));
  }
  return app;
}

/** Engine errors reach clients as the Matrix errors the spec gives them. */
function toMatrixError(err: unknown): MatrixError {
  if (err instanceof MatrixError) return err;
  if (err instanceof AuthError) return new MatrixError(403, "M_FORBIDDEN", err.message);
  if (err instanceof EventTooLargeError) return new MatrixError(413, "M_TOO_LARGE", err.message);
  if (err instanceof EventFormatError) return new MatrixError(400, "M_BAD_JSON", err.message);
  // Content that has no canonical JSON form (floats, integers beyond ±2^53) cannot be signed into an event.
  if (err instanceof CanonicalJsonError) return new MatrixError(400, "M_BAD_JSON", err.message);
  if (err instanceof UnknownRoomError) return new MatrixError(404, "M_NOT_FOUND", err.message);
  return new MatrixError(500, "M_UNKNOWN", "Internal server error");
}
