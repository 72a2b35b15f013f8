/**
 * Media bytes on disk, under <data_dir>/media:
 *
 *   content/<origin>/<aa>/<bb>/<media id>             the file as uploaded or fetched
 *   thumbnails/<origin>/<aa>/<bb>/<media id>/<box>     generated thumbnails
 *   tmp/                                              files being written
 *
 * <aa>/<bb> come from a hash of the origin and id, so no directory grows
 * past 65,536 entries whatever ids other servers use. Every file is
 * written to tmp/, fsynced, renamed into place and its directory fsynced:
 * once `commit` returns, the bytes survive a power cut, and a crash before
 * that leaves only a file in tmp/, which the next start clears.
 */
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { isValidMediaId } from "./ids.js";

/** A file written and fsynced in tmp/, not yet in place. */
export interface TempFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export class UploadTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Upload is over ${limit} bytes`);
    this.name = "UploadTooLargeError";
  }
}

export class IncompleteUploadError extends Error {
  constructor() {
    super("The upload ended before all of its bytes arrived");
    this.name = "IncompleteUploadError";
  }
}

// A server name as one path segment: percent-encoded, dots too, so ".." can never be a segment.
function originDir(origin: string): string {
  return encodeURIComponent(origin).replace(/\./g, "%2E");
}

function shard(origin: string, mediaId: string): string[] {
  if (!isValidMediaId(mediaId)) throw new Error(`not a media id: ${JSON.stringify(mediaId)}`);
  const h = createHash("sha256").update(`${origin}/${mediaId}`).digest("hex");
  return [originDir(origin), h.slice(0, 2), h.slice(2, 4), mediaId];
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await fs.open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class MediaFiles {
  private readonly tmp: string;

  private constructor(readonly root: string) {
    this.tmp = join(root, "tmp");
  }

  /** Opens the media directory, clearing what a crash left half-written. */
  static async open(root: string): Promise<MediaFiles> {
    const files = new MediaFiles(root);
    await fs.rm(files.tmp, { recursive: true, force: true });
    await fs.mkdir(files.tmp, { recursive: true });
    return files;
  }

  contentPath(origin: string, mediaId: string): string {
    return join(this.root, "content", ...shard(origin, mediaId));
  }

  thumbnailPath(origin: string, mediaId: string, name: string): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad thumbnail name ${name}`);
    return join(this.root, "thumbnails", ...shard(origin, mediaId), name);
  }

  /**
   * Streams `source` into a new file in tmp/, hashing as it goes and never
   * holding more than a chunk in memory. Over `limit` bytes, or if the
   * source ends early or fails, the file is removed and the error thrown.
   */
  async write(source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>, limit: number, complete: () => boolean = () => true): Promise<TempFile> {
    const path = join(this.tmp, randomBytes(12).toString("hex"));
    const handle = await fs.open(path, "wx", 0o600);
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > limit) throw new UploadTooLargeError(limit);
        hash.update(chunk);
        await handle.write(chunk);
      }
      if (!complete()) throw new IncompleteUploadError();
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.rm(path, { force: true });
      throw err;
    }
    await handle.close();
    return { path, size, sha256: hash.digest("hex") };
  }

  /** Moves a temp file into place and makes the move durable. */
  async commit(temp: TempFile, finalPath: string): Promise<void> {
    const dir = dirname(finalPath);
    const created = await fs.mkdir(dir, { recursive: true });
    await fs.rename(temp.path, finalPath);
    await fsyncDir(dir);
    // New shard directories must themselves be durable in their parents.
    if (created) {
      for (let d = dir; d.length >= created.length && d !== dirname(d); d = dirname(d)) await fsyncDir(dirname(d));
    }
  }

  async discard(temp: TempFile): Promise<void> {
    await fs.rm(temp.path, { force: true });
  }

  async remove(path: string): Promise<void> {
    await fs.rm(path, { force: true });
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fs.access(path);
      return true;
    } catch {
      return false;
    }
  }
}
