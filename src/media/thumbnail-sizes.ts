/**
 * Which thumbnail a request gets, as pure arithmetic (Client-Server API,
 * "Thumbnails"): the requested size is the smallest the client wants;
 * "scale" keeps the image's aspect and fits it within the box, "crop"
 * fills the box exactly (the requested aspect); nothing is ever upscaled.
 *
 * Requests are first rounded up to the smallest standard box that covers
 * them (the sizes Element asks for), so one generated thumbnail serves
 * every request it covers and the cache holds few files per image.
 */

export type ThumbnailMethod = "crop" | "scale";

export interface Box {
  readonly width: number;
  readonly height: number;
  readonly method: ThumbnailMethod;
}

/** The sizes the spec says servers should produce (and Element asks for). */
export const STANDARD_BOXES: readonly Box[] = [
  { width: 32, height: 32, method: "crop" },
  { width: 96, height: 96, method: "crop" },
  { width: 320, height: 240, method: "scale" },
  { width: 640, height: 480, method: "scale" },
  { width: 800, height: 600, method: "scale" },
];

/**
 * The box a request is answered from: the smallest standard box of the
 * same method that covers it (for crop, of the same aspect too), or the
 * request itself when none does.
 */
export function boxFor(width: number, height: number, method: ThumbnailMethod): Box {
  let best: Box | undefined;
  for (const b of STANDARD_BOXES) {
    if (b.method !== method || b.width < width || b.height < height) continue;
    if (method === "crop" && b.width * height !== b.height * width) continue;
    if (!best || b.width * b.height < best.width * best.height) best = b;
  }
  return best ?? { width, height, method };
}

/** The dimensions of the thumbnail of a `source` image for `box`: never larger than the source. */
export function thumbnailSize(sourceWidth: number, sourceHeight: number, box: Box): { width: number; height: number } {
  if (box.method === "crop") {
    // The largest rectangle of the box's aspect that the source can fill without enlarging.
    const k = Math.min(1, sourceWidth / box.width, sourceHeight / box.height);
    return { width: Math.max(1, Math.round(box.width * k)), height: Math.max(1, Math.round(box.height * k)) };
  }
  const k = Math.min(1, box.width / sourceWidth, box.height / sourceHeight);
  return { width: Math.max(1, Math.round(sourceWidth * k)), height: Math.max(1, Math.round(sourceHeight * k)) };
}

/**
 * Parses width/height/method as the spec types them: integers (at least 1),
 * method crop or scale (scale when absent). Undefined when malformed, which
 * the caller answers 400.
 */
export function parseThumbnailRequest(width: unknown, height: unknown, method: unknown): Box | undefined {
  const int = (v: unknown) => (typeof v === "string" && /^\d{1,6}$/.test(v) ? Number(v) : NaN);
  const w = int(width);
  const h = int(height);
  if (!(w >= 1) || !(h >= 1)) return undefined;
  const m = method === undefined ? "scale" : method;
  if (m !== "crop" && m !== "scale") return undefined;
  return { width: w, height: h, method: m };
}
