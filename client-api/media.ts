/**
 * The content repository for clients: uploads (/_matrix/media/v3/upload,
 * /v1/create then PUT), the media configuration, and downloads and
 * thumbnails both on the authenticated endpoints (/_matrix/client/v1/media,
 * an access token required) and on the deprecated unauthenticated ones
 * (/_matrix/media/v3), which old clients still use and which
 * media.freeze_unauthenticated_since_ms can freeze.
 *
 * URL previews (/preview_url) are routed only when media.url_preview_enabled;
 * otherwise the path answers 404 M_UNRECOGNIZED, as on Synapse with
 * previews turned off.
 */
import { promises as fs } from "node:fs";
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { invalidParam, missingParam, notFound } from "../src/http/errors.js";
import { MEDIA_CSP, contentDisposition } from "../src/media/headers.js";
import { UrlPreviews } from "../src/media/preview.js";
import { booleanParam, thumbnailParams, timeoutParam } from "../src/media/request.js";
import { type MediaFile, type MediaRequestOptions, type Thumbnail, type UploadBody } from "../src/media/repository.js";

const LEGACY = "/_matrix/media/v3";
const AUTHED = "/_matrix/client/v1/media";
const MAX_FILE_NAME = 255;

function uploadBody(ctx: Context): UploadBody {
  const declared = ctx.get("content-length");
  return {
    stream: ctx.req as AsyncIterable<Buffer>,
    declaredLength: /^\d+$/.test(declared) ? Number(declared) : undefined,
    // A request cut off mid-body ends its stream without being complete.
    complete: () => ctx.req.complete,
  };
}

function fileNameParam(ctx: Context): string | undefined {
  const name = ctx.query.filename;
  if (name === undefined) return undefined;
  if (typeof name !== "string") throw invalidParam("filename must be given once");
  if (name.length > MAX_FILE_NAME) throw invalidParam(`filename is longer than ${MAX_FILE_NAME} characters`);
  return name.length > 0 ? name : undefined;
}

/** An upload that failed over the limit leaves the rest of its body unread: close the connection rather than drain it. */
async function closingOnError<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!ctx.req.complete) ctx.set("Connection", "close");
    throw err;
  }
}

/** Headers every piece of served media carries (content repository: CSP, CORP; no sniffing past our type). */
function mediaHeaders(ctx: Context, contentType: string, disposition: string, authenticated: boolean): void {
  ctx.set("Content-Type", contentType);
  ctx.set("Content-Disposition", disposition);
  ctx.set("Content-Security-Policy", MEDIA_CSP);
  ctx.set("Cross-Origin-Resource-Policy", "cross-origin");
  ctx.set("X-Content-Type-Options", "nosniff");
  // An mxc URI's bytes never change; with a token they are one user's to cache.
  ctx.set("Cache-Control", `${authenticated ? "private" : "public"}, max-age=86400, immutable`);
}

async function sendFile(ctx: Context, path: string, size: number): Promise<void> {
  let handle;
  try {
    handle = await fs.open(path, "r");
  } catch {
    throw notFound("The media's content is missing");
  }
  ctx.length = size;
  ctx.body = handle.createReadStream();
}

export function registerMedia(router: Router, hs: ServerContext): void {
  const media = hs.media;

  router.post(`${LEGACY}/upload`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const name = fileNameParam(ctx);
    const uri = await closingOnError(ctx, () => media.upload(uploadBody(ctx), ctx.get("content-type") || undefined, name, me.userId));
    ctx.body = { content_uri: uri };
  });

  router.post("/_matrix/media/v1/create", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const { contentUri, unusedExpiresAt } = await media.create(me.userId);
    ctx.body = { content_uri: contentUri, unused_expires_at: unusedExpiresAt };
  });

  router.put(`${LEGACY}/upload/:serverName/:mediaId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const name = fileNameParam(ctx);
    const { serverName, mediaId } = ctx.params;
    await closingOnError(ctx, () => media.uploadTo(serverName, mediaId, uploadBody(ctx), ctx.get("content-type") || undefined, name, me.userId));
    ctx.body = {};
  });

  const config = () => ({ "m.upload.size": media.maxUploadBytes });
  router.get(`${LEGACY}/config`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    ctx.body = config();
  });
  router.get(`${AUTHED}/config`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    ctx.body = config();
  });

  const download = async (ctx: Context, authenticated: boolean) => {
    const { serverName, mediaId, fileName } = ctx.params;
    const opts: MediaRequestOptions = {
      timeoutMs: timeoutParam(ctx.query),
      allowRemote: authenticated ? true : booleanParam(ctx.query, "allow_remote") !== false,
      unauthenticated: !authenticated,
    };
    const file: MediaFile = await media.media(serverName, mediaId, opts);
    const name = fileName ?? file.record.uploadName;
    mediaHeaders(ctx, file.record.contentType, contentDisposition(file.record.contentType, name), authenticated);
    await sendFile(ctx, file.path, file.record.size);
  };

  const thumbnail = async (ctx: Context, authenticated: boolean) => {
    const { serverName, mediaId } = ctx.params;
    const { box, animated } = thumbnailParams(ctx.query);
    const opts: MediaRequestOptions = {
      timeoutMs: timeoutParam(ctx.query),
      allowRemote: authenticated ? true : booleanParam(ctx.query, "allow_remote") !== false,
      unauthenticated: !authenticated,
    };
    const file = await media.media(serverName, mediaId, opts);
    const thumb: Thumbnail = await media.thumbnail(file, box, animated);
    const ext = thumb.contentType.split("/")[1];
    mediaHeaders(ctx, thumb.contentType, contentDisposition(thumb.contentType, `thumbnail.${ext}`, true), authenticated);
    if (thumb.kind === "bytes") {
      ctx.body = thumb.data;
    } else {
      await sendFile(ctx, thumb.path, thumb.size);
    }
  };

  router.get(`${AUTHED}/download/:serverName/:mediaId`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    await download(ctx, true);
  });
  router.get(`${AUTHED}/download/:serverName/:mediaId/:fileName`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    await download(ctx, true);
  });
  router.get(`${AUTHED}/thumbnail/:serverName/:mediaId`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    await thumbnail(ctx, true);
  });
  router.get(`${LEGACY}/download/:serverName/:mediaId`, (ctx) => download(ctx, false));
  router.get(`${LEGACY}/download/:serverName/:mediaId/:fileName`, (ctx) => download(ctx, false));
  router.get(`${LEGACY}/thumbnail/:serverName/:mediaId`, (ctx) => thumbnail(ctx, false));

  if (hs.config.media.url_preview_enabled) {
    const previews = new UrlPreviews(media, hs.config, hs.log);
    const preview = async (ctx: Context) => {
      const me = await requireUser(ctx, hs.accounts);
      const url = ctx.query.url;
      if (url === undefined) throw missingParam("url is required");
      if (typeof url !== "string") throw invalidParam("url must be given once");
      ctx.body = await previews.preview(url, me.userId);
    };
    router.get(`${AUTHED}/preview_url`, preview);
    router.get(`${LEGACY}/preview_url`, preview);
  }
}
