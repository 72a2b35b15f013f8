/**
 * Media over federation (server-server API, content repository): our
 * media for other servers (GET /_matrix/federation/v1/media/download and
 * /thumbnail, signed requests, answered as multipart/mixed), and other
 * servers' media for our users (`RemoteMediaSource`): the v1 federation
 * endpoint first, then, when the origin does not know it (404
 * M_UNRECOGNIZED), the deprecated /_matrix/media/v3/download with
 * allow_remote=false as the spec requires.
 */
import { promises as fs } from "node:fs";
import { Readable } from "node:stream";
import type { IncomingMessage } from "node:http";
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { MatrixError } from "../src/http/errors.js";
import { contentDisposition, fileNameOfDisposition } from "../src/media/headers.js";
import { boundaryOf, multipartHead, multipartTail, newBoundary, readSecondPart } from "../src/media/multipart.js";
import type { RemoteMediaFile, RemoteMediaSource } from "../src/media/remote.js";
import { thumbnailParams, timeoutParam } from "../src/media/request.js";
import type { MediaFile, Thumbnail } from "../src/media/repository.js";
import { FederationError, type FederationClient } from "./client.js";
import { authenticate } from "./inbound-auth.js";
import type { KeyRing } from "./key-ring.js";

const V1 = "/_matrix/federation/v1/media";

/** Sends `bytes` (a file or a buffer) as the second part of a two-part multipart/mixed answer. */
async function sendMultipart(ctx: Context, contentType: string, disposition: string, content: { path: string; size: number } | Buffer): Promise<void> {
  const boundary = newBoundary();
  const head = multipartHead(boundary, {}, { "Content-Type": contentType, "Content-Disposition": disposition });
  const tail = multipartTail(boundary);
  let middle: AsyncIterable<Buffer> | Buffer;
  let size: number;
  if (Buffer.isBuffer(content)) {
    middle = content;
    size = content.length;
  } else {
    let handle;
    try {
      handle = await fs.open(content.path, "r");
    } catch {
      throw new MatrixError(404, "M_NOT_FOUND", "The media's content is missing");
    }
    middle = handle.createReadStream();
    size = content.size;
  }
  ctx.set("Content-Type", `multipart/mixed; boundary=${boundary}`);
  ctx.length = head.length + size + tail.length;
  ctx.body = Readable.from((async function* () {
    yield head;
    if (Buffer.isBuffer(middle)) yield middle;
    else for await (const chunk of middle) yield chunk as Buffer;
    yield tail;
  })());
}

export function registerMediaRoutes(router: Router, hs: ServerContext, keys: KeyRing): void {
  const ours = hs.config.server_name;

  router.get(`${V1}/download/:mediaId`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    // Only media that originates here: other servers fetch remote media from its own origin.
    const file: MediaFile = await hs.media.media(ours, ctx.params.mediaId, { timeoutMs: timeoutParam(ctx.query), allowRemote: false });
    await sendMultipart(ctx, file.record.contentType, contentDisposition(file.record.contentType, file.record.uploadName), { path: file.path, size: file.record.size });
  });

  router.get(`${V1}/thumbnail/:mediaId`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    const { box, animated } = thumbnailParams(ctx.query);
    const file = await hs.media.media(ours, ctx.params.mediaId, { timeoutMs: timeoutParam(ctx.query), allowRemote: false });
    const thumb: Thumbnail = await hs.media.thumbnail(file, box, animated);
    const disposition = contentDisposition(thumb.contentType, `thumbnail.${thumb.contentType.split("/")[1]}`, true);
    await sendMultipart(ctx, thumb.contentType, disposition, thumb.kind === "bytes" ? thumb.data : { path: thumb.path, size: thumb.size });
  });
}

function isUnrecognised(err: unknown): boolean {
  if (!(err instanceof FederationError)) return false;
  // A 400 that is not a Matrix error is a server that mistook the path for another route (Complement's test servers do): worth the old endpoint too.
  if (err.status === 400 && err.body?.errcode === undefined) return true;
  return (err.status === 404 || err.status === 400 || err.status === 405) && err.body?.errcode === "M_UNRECOGNIZED";
}

/** What our client is told when the origin fails: its "not found" and "not yet" pass on, anything else is a 502. */
function toClientError(err: unknown): MatrixError {
  if (err instanceof MatrixError) return err;
  if (err instanceof FederationError) {
    const errcode = err.body?.errcode;
    if (err.status === 404) return new MatrixError(404, "M_NOT_FOUND", "The remote server has no such media");
    if (err.status === 504 && errcode === "M_NOT_YET_UPLOADED") return new MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
    if (errcode === "M_TOO_LARGE") return new MatrixError(502, "M_TOO_LARGE", "The remote media is too large");
  }
  return new MatrixError(502, "M_UNKNOWN", `Fetching remote media failed: ${(err as Error).message}`);
}

function asFile(res: IncomingMessage, contentType: string | undefined, disposition: string | undefined, body: AsyncIterable<Buffer>, complete: () => boolean): RemoteMediaFile {
  return { contentType, fileName: fileNameOfDisposition(disposition), body, complete, abort: () => res.destroy() };
}

/** Fetches other servers' media for our users. */
export class FederationMedia implements RemoteMediaSource {
  constructor(private readonly client: FederationClient) {}

  async download(origin: string, mediaId: string, timeoutMs: number): Promise<RemoteMediaFile> {
    // The origin may hold the request open up to timeoutMs waiting for an upload: allow for it.
    const requestTimeout = timeoutMs + 10_000;
    let res: IncomingMessage;
    try {
      res = await this.client.stream(origin, `${V1}/download/${encodeURIComponent(mediaId)}`, { query: { timeout_ms: timeoutMs }, timeoutMs: requestTimeout });
    } catch (err) {
      if (!isUnrecognised(err)) throw toClientError(err);
      return this.legacy(origin, mediaId, timeoutMs, requestTimeout);
    }
    const boundary = boundaryOf(res.headers["content-type"]);
    if (!boundary) {
      res.destroy();
      throw new MatrixError(502, "M_UNKNOWN", "The remote server's media answer is not multipart/mixed");
    }
    try {
      const part = await readSecondPart(res as AsyncIterable<Buffer>, boundary);
      const location = part.headers.get("location");
      if (location) {
        res.destroy();
        const redirected = await this.client.fetchUrl(location, requestTimeout);
        return asFile(redirected, redirected.headers["content-type"], redirected.headers["content-disposition"], redirected as AsyncIterable<Buffer>, () => redirected.complete);
      }
      return asFile(res, part.headers.get("content-type"), part.headers.get("content-disposition"), part.body, () => part.complete() && res.complete);
    } catch (err) {
      res.destroy();
      throw toClientError(err);
    }
  }

  /** The deprecated client endpoint, unauthenticated, with allow_remote=false so two servers never bounce a request. */
  private async legacy(origin: string, mediaId: string, timeoutMs: number, requestTimeout: number): Promise<RemoteMediaFile> {
    let res: IncomingMessage;
    try {
      res = await this.client.stream(origin, `/_matrix/media/v3/download/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}`, {
        query: { allow_remote: false, timeout_ms: timeoutMs }, unsigned: true, timeoutMs: requestTimeout,
      });
    } catch (err) {
      throw toClientError(err);
    }
    return asFile(res, res.headers["content-type"], res.headers["content-disposition"], res as AsyncIterable<Buffer>, () => res.complete);
  }
}
