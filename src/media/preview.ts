/**
 * URL previews (GET /preview_url), when media.url_preview_enabled: the
 * page's OpenGraph data, its image (or the URL itself, when it is an
 * image) stored as media of the user who asked and given as an mxc URI
 * with its size and dimensions. Answers are kept an hour per URL, and
 * concurrent requests for one URL share one fetch.
 */
import type { Config } from "../config.js";
import { MatrixError, invalidParam } from "../http/errors.js";
import type { Logger } from "../logger.js";
import { Lru } from "../util/lru.js";
import { baseType, normaliseContentType } from "./headers.js";
import { openGraph } from "./opengraph.js";
import type { MediaRepository } from "./repository.js";
import { probe } from "./thumbnailer.js";
import { UrlFetchError, checkPreviewUrl, fetchUrl, readAtMost, type FetchedUrl } from "./url-fetch.js";

const CACHE_MS = 3600_000;
const MAX_HTML = 1024 * 1024;
const TIMEOUT_MS = 10_000;
const MAX_URL = 2048;

export type Preview = Record<string, string | number>;

export class UrlPreviews {
  private readonly cache = new Lru<string, { expires: number; value: Preview }>(1000);
  private readonly inflight = new Map<string, Promise<Preview>>();

  constructor(
    private readonly media: MediaRepository,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  async preview(url: string, userId: string): Promise<Preview> {
    if (url.length > MAX_URL) throw invalidParam(`url is longer than ${MAX_URL} characters`);
    try {
      checkPreviewUrl(url);
    } catch (err) {
      throw invalidParam(`Cannot preview this URL: ${(err as Error).message}`);
    }
    const hit = this.cache.get(url);
    if (hit && hit.expires > Date.now()) return hit.value;
    let pending = this.inflight.get(url);
    if (!pending) {
      pending = this.build(url, userId).finally(() => this.inflight.delete(url));
      this.inflight.set(url, pending);
    }
    const value = await pending;
    this.cache.set(url, { expires: Date.now() + CACHE_MS, value });
    return value;
  }

  private get allowPrivate(): boolean {
    return this.config.media.url_preview_allow_private_addresses;
  }

  private async build(url: string, userId: string): Promise<Preview> {
    let page: FetchedUrl;
    try {
      page = await fetchUrl(url, { timeoutMs: TIMEOUT_MS, allowPrivate: this.allowPrivate, accept: "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.1" });
    } catch (err) {
      throw new MatrixError(502, "M_UNKNOWN", `Could not fetch the URL: ${(err as Error).message}`);
    }
    const type = baseType(page.response.headers["content-type"] ?? "");
    if (type.startsWith("image/")) return (await this.storeImage(page, userId)) ?? {};
    if (type !== "text/html" && type !== "application/xhtml+xml") {
      page.response.destroy();
      return {};
    }
    const html = (await readAtMost(page.response, MAX_HTML)).toString("utf8");
    const og: Preview = openGraph(html);
    const image = og["og:image"];
    for (const k of Object.keys(og)) if (k.startsWith("og:image")) delete og[k];
    if (typeof image === "string" && image) {
      try {
        const target = new URL(image, page.url).toString();
        const fetched = await fetchUrl(target, { timeoutMs: TIMEOUT_MS, allowPrivate: this.allowPrivate, accept: "image/*" });
        Object.assign(og, (await this.storeImage(fetched, userId)) ?? {});
      } catch (err) {
        if (!(err instanceof UrlFetchError) && !(err instanceof TypeError)) throw err;
        this.log.debug("preview image not fetched", { url, image, err: String(err) });
      }
    }
    return og;
  }

  /** Stores an image answer as media of the asking user; undefined when it is not an image we can read or is too large. */
  private async storeImage(fetched: FetchedUrl, userId: string): Promise<Preview | undefined> {
    const res = fetched.response;
    const contentType = normaliseContentType(res.headers["content-type"]);
    if (!baseType(contentType).startsWith("image/")) {
      res.destroy();
      return undefined;
    }
    const declared = res.headers["content-length"];
    const name = decodeURIComponent(new URL(fetched.url).pathname.split("/").pop() ?? "").slice(0, 255) || undefined;
    let uri: string;
    try {
      uri = await this.media.upload({ stream: res, declaredLength: declared && /^\d+$/.test(declared) ? Number(declared) : undefined, complete: () => res.complete }, contentType, name, userId);
    } catch (err) {
      res.destroy();
      if (err instanceof MatrixError) return undefined;
      throw err;
    }
    const [server, mediaId] = uri.slice("mxc://".length).split("/");
    const file = await this.media.media(server, mediaId);
    const out: Preview = { "og:image": uri, "og:image:type": contentType, "matrix:image:size": file.record.size };
    const info = await probe(file.path, this.config.media.max_thumbnail_pixels).catch(() => undefined);
    if (info) {
      out["og:image:width"] = info.width;
      out["og:image:height"] = info.height;
    }
    return out;
  }
}
