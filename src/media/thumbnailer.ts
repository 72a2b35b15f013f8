/**
 * Decoding and resizing images, with sharp (libvips; its binaries come as
 * npm packages for linux-x64 and linux-arm64, so a Pi installs it from the
 * registry alone). Only JPEG, PNG, GIF and WebP are read: SVG, TIFF, HEIF
 * and the rest stay undecoded, which keeps the attack surface of a server
 * that decodes strangers' files small.
 */
import sharp, { type Metadata } from "sharp";
import type { ThumbnailMethod } from "./thumbnail-sizes.js";

// Thumbnails are cached on disk; libvips' own operation cache would only hold memory a Pi needs elsewhere.
sharp.cache(false);

export type ImageFormat = "jpeg" | "png" | "gif" | "webp";
const READABLE = new Set<string>(["jpeg", "png", "gif", "webp"]);

export interface ImageInfo {
  readonly format: ImageFormat;
  /** Displayed size: after EXIF orientation, one frame of an animation. */
  readonly width: number;
  readonly height: number;
  readonly animated: boolean;
}

export class ImageTooLargeError extends Error {
  constructor(pixels: number, limit: number) {
    super(`The image has ${pixels} pixels, over the limit of ${limit}`);
    this.name = "ImageTooLargeError";
  }
}

/** What an image file is, or undefined when it is not one we thumbnail (or not decodable). */
export async function probe(path: string, maxPixels: number): Promise<ImageInfo | undefined> {
  let meta: Metadata;
  try {
    meta = await sharp(path, { animated: true }).metadata();
  } catch {
    return undefined;
  }
  if (!meta.format || !READABLE.has(meta.format) || !meta.width || !meta.height) return undefined;
  const pages = meta.pages ?? 1;
  const frameHeight = pages > 1 && meta.pageHeight ? meta.pageHeight : meta.height;
  if (meta.width * meta.height > maxPixels) throw new ImageTooLargeError(meta.width * meta.height, maxPixels);
  // Orientations 5 to 8 turn the image a quarter: its displayed width is the stored height.
  const turned = (meta.orientation ?? 1) >= 5;
  return {
    format: meta.format as ImageFormat,
    width: turned ? frameHeight : meta.width,
    height: turned ? meta.width : frameHeight,
    animated: pages > 1,
  };
}

export interface Rendered {
  readonly data: Buffer;
  readonly contentType: string;
}

/**
 * The image at exactly `width` x `height`: "crop" scales to cover and cuts
 * the centre, "scale" resizes (the caller picked a size of the image's own
 * aspect). JPEG stays JPEG; the rest become PNG (they may have alpha), or
 * animated WebP when an animation is asked for and the source is one.
 */
export async function render(path: string, info: ImageInfo, width: number, height: number, method: ThumbnailMethod, animated: boolean): Promise<Rendered> {
  const keepAnimation = animated && info.animated;
  let img = sharp(path, { animated: keepAnimation, autoOrient: true, limitInputPixels: false })
    .resize(width, height, { fit: method === "crop" ? "cover" : "fill", position: "centre" });
  if (keepAnimation) return { data: await img.webp({ quality: 80 }).toBuffer(), contentType: "image/webp" };
  if (info.format === "jpeg") return { data: await img.jpeg({ quality: 80 }).toBuffer(), contentType: "image/jpeg" };
  img = img.png({ compressionLevel: 6 });
  return { data: await img.toBuffer(), contentType: "image/png" };
}
