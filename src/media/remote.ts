/**
 * What the media repository needs from other servers: a file by its mxc
 * URI. Declared here and implemented by federation/ (the v1 federation
 * media endpoint, with the legacy fallback), plugged in by homeserver.ts,
 * so src/ never speaks the server-server protocol.
 */
import { MatrixError } from "../http/errors.js";

export interface RemoteMediaFile {
  /** The origin's Content-Type, or undefined when it sent none. */
  readonly contentType: string | undefined;
  /** The file name of the origin's Content-Disposition, if it gave one. */
  readonly fileName: string | undefined;
  /** The bytes, streamed: the caller writes them to disk as they come. */
  readonly body: AsyncIterable<Buffer>;
  /** Whether the body ended as the origin meant it to (not cut off). Read once `body` is done. */
  complete(): boolean;
  /** Give up on the body (too large): closes the connection. */
  abort(): void;
}

export interface RemoteMediaSource {
  /**
   * Starts downloading `mxc://origin/mediaId` from its origin. Throws a
   * MatrixError the client may see: 404 M_NOT_FOUND when the origin has no
   * such media, 504 M_NOT_YET_UPLOADED, or 502 when it cannot be reached.
   */
  download(origin: string, mediaId: string, timeoutMs: number): Promise<RemoteMediaFile>;
}

/** Until federation is plugged in, or when it is off: remote media cannot be had. */
export class NoRemoteMedia implements RemoteMediaSource {
  async download(): Promise<RemoteMediaFile> {
    throw new MatrixError(404, "M_NOT_FOUND", "Remote media is not available on this server");
  }
}
