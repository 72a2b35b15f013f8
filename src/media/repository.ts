/**
 * The media repository: uploads (at once, or to an mxc URI reserved with
 * /create), downloads of local and remote media, and thumbnails, for the
 * client API and federation alike. Errors are the Matrix errors the spec
 * gives each case.
 *
 * Durability: a file is written to tmp/, fsynced and moved into place
 * before its row commits, so an mxc URI handed to a client always has its
 * bytes; an upload that fails or is cut off leaves nothing behind.
 */
import { join } from "node:path";
import type { Config } from "../config.js";
import { MatrixError, notFound, tooLarge } from "../http/errors.js";
import type { Logger } from "../logger.js";
import type { Database } from "../storage/database.js";
import { MediaStore, type MediaRecord, type ThumbnailRecord } from "../storage/media-store.js";
import { KeyedMutex } from "../util/keyed-mutex.js";
import { IncompleteUploadError, MediaFiles, UploadTooLargeError, type TempFile } from "./files.js";
import { DEFAULT_CONTENT_TYPE, baseType, normaliseContentType } from "./headers.js";
import { isValidMediaRef, mxcUri, newMediaId } from "./ids.js";
import { NoRemoteMedia, type RemoteMediaSource } from "./remote.js";
import { ImageTooLargeError, probe, render } from "./thumbnailer.js";
import { STANDARD_BOXES, boxFor, thumbnailSize, type Box } from "./thumbnail-sizes.js";

/** The longest a download waits for content still being uploaded, whatever timeout_ms asks. */
const MAX_WAIT_MS = 60_000;
export const DEFAULT_WAIT_MS = 20_000;
/** Thumbnails kept per file beyond the standard ones; more odd sizes are made but not cached. */
const MAX_EXTRA_THUMBNAILS = 16;
/** Content types we try to thumbnail (the thumbnailer still checks what the bytes really are). */
const THUMBNAILABLE = new Set(["image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/apng", "image/gif", "image/webp"]);

/** A file we hold with its content: local, or a cached copy of remote media. */
export interface MediaFile {
  readonly record: MediaRecord & { readonly contentType: string; readonly size: number };
  readonly path: string;
  readonly local: boolean;
}

/** A thumbnail to send: a cached file, the original itself, or bytes made but not cached. */
export type Thumbnail =
  | { readonly kind: "file"; readonly path: string; readonly contentType: string; readonly size: number; readonly width?: number; readonly height?: number }
  | { readonly kind: "bytes"; readonly data: Buffer; readonly contentType: string; readonly width: number; readonly height: number };

/** An upload's bytes as they arrive, and whether the request ended as declared. */
export interface UploadBody {
  readonly stream: AsyncIterable<Buffer>;
  /** Content-Length, when the client sent one. */
  readonly declaredLength: number | undefined;
  complete(): boolean;
}

export interface MediaRequestOptions {
  /** How long to wait for content not yet uploaded (timeout_ms). */
  readonly timeoutMs?: number;
  /** Legacy endpoints' allow_remote=false: only what is here already. */
  readonly allowRemote?: boolean;
  /** Asked on the deprecated unauthenticated endpoints, which may be frozen. */
  readonly unauthenticated?: boolean;
}

const key = (origin: string, mediaId: string) => `${origin}\u0000${mediaId}`;

export class MediaRepository {
  private remote: RemoteMediaSource = new NoRemoteMedia();
  private readonly locks = new KeyedMutex();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly fetching = new Map<string, Promise<MediaFile>>();
  private readonly rendering = new Map<string, Promise<Thumbnail>>();
  private readonly store: MediaStore;

  private constructor(
    private readonly config: Config,
    db: Database,
    readonly files: MediaFiles,
    private readonly log: Logger,
  ) {
    this.store = new MediaStore(db);
  }

  static async open(config: Config, db: Database, log: Logger): Promise<MediaRepository> {
    return new MediaRepository(config, db, await MediaFiles.open(join(config.data_dir, "media")), log);
  }

  private get serverName(): string {
    return this.config.server_name;
  }

  get maxUploadBytes(): number {
    return this.config.media.max_upload_bytes;
  }

  /** Federation plugs in how remote media is fetched. */
  connectRemote(source: RemoteMediaSource): void {
    this.remote = source;
  }

  /** POST /upload: the content stored under a new mxc URI. */
  async upload(body: UploadBody, contentType: string | undefined, uploadName: string | undefined, uploader: string): Promise<string> {
    const temp = await this.receive(body);
    const mediaId = newMediaId();
    try {
      await this.files.commit(temp, this.files.contentPath(this.serverName, mediaId));
    } catch (err) {
      await this.files.discard(temp);
      throw err;
    }
    const content = { contentType: normaliseContentType(contentType), uploadName: uploadName ?? null, size: temp.size, sha256: temp.sha256 };
    let inserted: boolean;
    try {
      inserted = await this.store.insertComplete(this.serverName, mediaId, content, uploader, Date.now());
    } catch (err) {
      // No row, no mxc URI handed out: the file would only be an orphan.
      await this.files.remove(this.files.contentPath(this.serverName, mediaId));
      throw err;
    }
    if (!inserted) throw new Error("media id collision"); // 143 random bits: not in this universe
    return mxcUri(this.serverName, mediaId);
  }

  /** POST /create: an mxc URI whose content comes later. */
  async create(uploader: string): Promise<{ contentUri: string; unusedExpiresAt: number }> {
    const now = Date.now();
    const { max_pending_uploads: maxPending, unused_expiry_ms: expiry } = this.config.media;
    await this.store.deleteExpiredPending(uploader, now);
    if ((await this.store.countPending(uploader, now)) >= maxPending) {
      throw new MatrixError(429, "M_LIMIT_EXCEEDED", `At most ${maxPending} media uploads may be pending at once`, { retry_after_ms: 60_000 });
    }
    const mediaId = newMediaId();
    await this.store.insertPending(this.serverName, mediaId, uploader, now, now + expiry);
    return { contentUri: mxcUri(this.serverName, mediaId), unusedExpiresAt: now + expiry };
  }

  /** PUT /upload/{serverName}/{mediaId}: content for a reserved mxc URI, once, by whoever reserved it. */
  async uploadTo(serverName: string, mediaId: string, body: UploadBody, contentType: string | undefined, uploadName: string | undefined, uploader: string): Promise<void> {
    if (serverName !== this.serverName || !isValidMediaRef(serverName, mediaId)) throw notFound("Unknown media ID");
    // One upload per id at a time: a second one waits, then finds the content there and gets 409.
    await this.locks.run(key(serverName, mediaId), async () => {
      const row = await this.store.get(serverName, mediaId);
      if (!row || (row.uploadedTs === null && (row.expiresTs ?? 0) <= Date.now())) throw notFound("Unknown media ID");
      if (row.uploader !== uploader) throw new MatrixError(403, "M_FORBIDDEN", "This media ID was created by another user");
      if (row.uploadedTs !== null) throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
      const temp = await this.receive(body);
      try {
        await this.files.commit(temp, this.files.contentPath(serverName, mediaId));
      } catch (err) {
        await this.files.discard(temp);
        throw err;
      }
      const content = { contentType: normaliseContentType(contentType), uploadName: uploadName ?? null, size: temp.size, sha256: temp.sha256 };
      if (!(await this.store.complete(serverName, mediaId, content, Date.now()))) {
        throw new MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "Media already uploaded");
      }
    });
    this.wake(key(serverName, mediaId));
  }

  /** Streams an upload to a temp file under the upload limit; 413 M_TOO_LARGE over it, nothing kept. */
  private async receive(body: UploadBody): Promise<TempFile> {
    const limit = this.maxUploadBytes;
    if (body.declaredLength !== undefined && body.declaredLength > limit) throw tooLarge(`Uploads are limited to ${limit} bytes`);
    try {
      return await this.files.write(body.stream, limit, body.complete);
    } catch (err) {
      if (err instanceof UploadTooLargeError) throw tooLarge(`Uploads are limited to ${limit} bytes`);
      // Cut off by the client: nobody is left to read the answer, and it is no failure of ours.
      if (err instanceof IncompleteUploadError || !body.complete()) throw new MatrixError(400, "M_UNKNOWN", "The upload ended before all of its bytes arrived");
      throw err;
    }
  }

  /**
   * A file by its mxc URI: ours (waiting up to timeoutMs for a reserved
   * one still being uploaded), or another server's, fetched once and kept.
   */
  async media(serverName: string, mediaId: string, opts: MediaRequestOptions = {}): Promise<MediaFile> {
    if (!isValidMediaRef(serverName, mediaId)) throw notFound("Unknown media");
    const file = serverName === this.serverName ? await this.local(mediaId, opts.timeoutMs) : await this.remoteMedia(serverName, mediaId, opts);
    if (opts.unauthenticated && this.frozen(file.record.createdTs)) throw notFound("This media is only served on the authenticated media endpoints");
    return file;
  }

  /** Media uploaded or cached since the freeze is served only with an access token (spec: "freezing" the deprecated endpoints). */
  private frozen(createdTs: number): boolean {
    const since = this.config.media.freeze_unauthenticated_since_ms;
    return since > 0 && createdTs >= since;
  }

  private async local(mediaId: string, timeoutMs = DEFAULT_WAIT_MS): Promise<MediaFile> {
    const deadline = Date.now() + Math.max(0, Math.min(timeoutMs, MAX_WAIT_MS));
    const k = key(this.serverName, mediaId);
    // Bounded: each pass either returns, throws, or sleeps until the deadline or an upload.
    for (;;) {
      // Listen before reading, so an upload finishing in between still wakes this request.
      const wait = this.waitFor(k, deadline - Date.now());
      const row = await this.store.get(this.serverName, mediaId);
      const now = Date.now();
      if (!row || row.uploadedTs !== null || (row.expiresTs ?? 0) <= now || now >= deadline) wait.cancel();
      if (!row) throw notFound("Unknown media");
      if (row.uploadedTs !== null) return this.asFile(row, true);
      if ((row.expiresTs ?? 0) <= now) throw notFound("Unknown media");
      if (now >= deadline) throw new MatrixError(504, "M_NOT_YET_UPLOADED", "Content has not yet been uploaded");
      await wait.done;
    }
  }

  private asFile(row: MediaRecord, local: boolean): MediaFile {
    const record = { ...row, contentType: row.contentType ?? DEFAULT_CONTENT_TYPE, size: row.size ?? 0 };
    return { record, path: this.files.contentPath(row.origin, row.mediaId), local };
  }

  /** Resolves `done` when the key is woken or after `ms`; `cancel` stops listening. */
  private waitFor(k: string, ms: number): { done: Promise<void>; cancel: () => void } {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      let set = this.waiters.get(k);
      if (!set) this.waiters.set(k, (set = new Set()));
      const listeners = set;
      finish = () => {
        clearTimeout(timer);
        listeners.delete(finish);
        if (listeners.size === 0 && this.waiters.get(k) === listeners) this.waiters.delete(k);
        resolve();
      };
      const timer = setTimeout(finish, Math.max(1, ms));
      listeners.add(finish);
    });
    return { done, cancel: () => finish() };
  }

  private wake(k: string): void {
    for (const done of [...(this.waiters.get(k) ?? [])]) done();
  }

  private async remoteMedia(origin: string, mediaId: string, opts: MediaRequestOptions): Promise<MediaFile> {
    const row = await this.store.get(origin, mediaId);
    if (row?.uploadedTs != null && (await this.files.exists(this.files.contentPath(origin, mediaId)))) return this.asFile(row, false);
    if (opts.allowRemote === false) throw notFound("Remote media is not held here and allow_remote is false");
    // Fetching it now would make it newly cached, which a frozen endpoint does not serve.
    if (opts.unauthenticated && this.frozen(Date.now())) throw notFound("This media is only served on the authenticated media endpoints");
    const k = key(origin, mediaId);
    let pending = this.fetching.get(k);
    if (!pending) {
      pending = this.fetchRemote(origin, mediaId, opts.timeoutMs ?? DEFAULT_WAIT_MS).finally(() => this.fetching.delete(k));
      this.fetching.set(k, pending);
    }
    return pending;
  }

  private async fetchRemote(origin: string, mediaId: string, timeoutMs: number): Promise<MediaFile> {
    const answer = await this.remote.download(origin, mediaId, Math.min(timeoutMs, MAX_WAIT_MS));
    const limit = this.maxUploadBytes;
    let temp: TempFile;
    try {
      temp = await this.files.write(answer.body, limit, () => answer.complete());
    } catch (err) {
      answer.abort();
      if (err instanceof UploadTooLargeError) throw new MatrixError(502, "M_TOO_LARGE", `Remote media is over ${limit} bytes`);
      throw new MatrixError(502, "M_UNKNOWN", `Fetching remote media failed: ${(err as Error).message}`);
    }
    try {
      await this.files.commit(temp, this.files.contentPath(origin, mediaId));
    } catch (err) {
      await this.files.discard(temp);
      throw err;
    }
    const content = { contentType: normaliseContentType(answer.contentType), uploadName: answer.fileName ?? null, size: temp.size, sha256: temp.sha256 };
    const now = Date.now();
    if (!(await this.store.insertComplete(origin, mediaId, content, null, now))) {
      // Cached before (its file had gone): the file is back in place, the row stands.
      const row = await this.store.get(origin, mediaId);
      if (row) return this.asFile(row, false);
    }
    this.log.debug("cached remote media", { origin, media_id: mediaId, size: temp.size });
    return this.asFile({ origin, mediaId, ...content, createdTs: now, uploadedTs: now, expiresTs: null, uploader: null }, false);
  }

  /**
   * A thumbnail of `file` for the requested box: from the cache, else made
   * now (one at a time: a Pi has little memory to spare) and cached. The
   * original itself when it is already small enough and a plain JPEG or PNG.
   */
  async thumbnail(file: MediaFile, requested: Box, animated: boolean): Promise<Thumbnail> {
    const cannot = () => new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    if (!THUMBNAILABLE.has(baseType(file.record.contentType))) throw cannot();
    if (!(await this.files.exists(file.path))) throw notFound("The media's content is missing");
    const box = boxFor(requested.width, requested.height, requested.method);
    const { origin, mediaId } = file.record;
    const cached = await this.store.thumbnails(origin, mediaId);
    // Rows are keyed by what was asked: animated=true of a still image keeps its own (still) thumbnail.
    const hit = cached.find((t) => t.method === box.method && t.boxWidth === box.width && t.boxHeight === box.height && t.animated === animated);
    if (hit) {
      const path = this.files.thumbnailPath(origin, mediaId, nameOf(box, hit.animated));
      if (await this.files.exists(path)) return { kind: "file", path, contentType: hit.contentType, size: hit.size, width: hit.width, height: hit.height };
      await this.store.deleteThumbnail(origin, mediaId, hit);
    }
    const k = `${key(origin, mediaId)}\u0000${nameOf(box, animated)}`;
    let pending = this.rendering.get(k);
    if (!pending) {
      const extra = cached.filter((t) => !isStandard(t)).length;
      pending = this.locks.run("thumbnailer", () => this.makeThumbnail(file, box, animated, isStandard({ method: box.method, boxWidth: box.width, boxHeight: box.height }) || extra < MAX_EXTRA_THUMBNAILS))
        .finally(() => this.rendering.delete(k));
      this.rendering.set(k, pending);
    }
    return pending;
  }

  private async makeThumbnail(file: MediaFile, box: Box, animated: boolean, keep: boolean): Promise<Thumbnail> {
    let info;
    try {
      info = await probe(file.path, this.config.media.max_thumbnail_pixels);
    } catch (err) {
      if (err instanceof ImageTooLargeError) {
        throw file.local ? tooLarge("Content is too large to thumbnail") : new MatrixError(502, "M_TOO_LARGE", "Remote content is too large to thumbnail");
      }
      throw err;
    }
    if (!info) throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    const size = thumbnailSize(info.width, info.height, box);
    const wantsAnimation = animated && info.animated;
    // Small enough already: the spec asks for the original rather than a re-encoded copy.
    if (!info.animated && size.width === info.width && size.height === info.height && (info.format === "jpeg" || info.format === "png")) {
      return { kind: "file", path: file.path, contentType: info.format === "jpeg" ? "image/jpeg" : "image/png", size: file.record.size, width: info.width, height: info.height };
    }
    const started = Date.now();
    let out;
    try {
      out = await render(file.path, info, size.width, size.height, box.method, wantsAnimation);
    } catch (err) {
      // A header that reads but a body that does not decode (truncated, corrupt): the content's fault, not ours.
      this.log.debug("thumbnail failed", { media_id: file.record.mediaId, err: String(err) });
      throw new MatrixError(400, "M_UNKNOWN", "Cannot generate thumbnails for the requested content");
    }
    this.log.debug("thumbnail made", { media_id: file.record.mediaId, width: size.width, height: size.height, ms: Date.now() - started });
    if (!keep) return { kind: "bytes", data: out.data, contentType: out.contentType, width: size.width, height: size.height };
    const { origin, mediaId } = file.record;
    const path = this.files.thumbnailPath(origin, mediaId, nameOf(box, animated));
    const temp = await this.files.write([out.data], Infinity);
    await this.files.commit(temp, path);
    const record: ThumbnailRecord = {
      method: box.method, boxWidth: box.width, boxHeight: box.height, animated,
      width: size.width, height: size.height, contentType: out.contentType, size: out.data.length,
    };
    await this.store.insertThumbnail(origin, mediaId, record, Date.now());
    return { kind: "file", path, contentType: out.contentType, size: out.data.length, width: size.width, height: size.height };
  }
}

function nameOf(box: Box, animated: boolean): string {
  return `${box.method}-${box.width}x${box.height}${animated ? "-animated" : ""}`;
}

function isStandard(t: Pick<ThumbnailRecord, "method" | "boxWidth" | "boxHeight">): boolean {
  return STANDARD_BOXES.some((b) => b.method === t.method && b.width === t.boxWidth && b.height === t.boxHeight);
}
