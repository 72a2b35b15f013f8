/**
 * The media repository over real HTTP on each engine: uploads of PNG and
 * JPEG downloaded back byte for byte with their content type and file
 * name, the spec's headers, thumbnails decoded and measured, the upload
 * limit (nothing stored past it, nor of an upload cut off), unknown
 * media, reserved mxc URIs (/create then PUT), and the freeze of the
 * unauthenticated endpoints.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine, type ServerHandle } from "../support/server.js";
import { contentDisposition, fileNameOfDisposition } from "../../src/media/headers.js";
import { boxFor, thumbnailSize } from "../../src/media/thumbnail-sizes.js";
import { MultipartError, boundaryOf, multipartHead, multipartTail, readSecondPart } from "../../src/media/multipart.js";

const LIMIT = 256 * 1024;
const AUTHED = "/_matrix/client/v1/media";
const LEGACY = "/_matrix/media/v3";

async function jpeg(width: number, height: number): Promise<Buffer> {
  // A gradient-ish picture, so JPEG has something to encode.
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i += 3) {
    const p = i / 3;
    raw[i] = p % width % 256;
    raw[i + 1] = Math.floor(p / width) % 256;
    raw[i + 2] = 128;
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } }).png().toBuffer();
}

interface Raw {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

function media(h: ServerHandle) {
  const base = () => h.server.url;
  const raw = async (method: string, path: string, token?: string, body?: Buffer, contentType?: string): Promise<Raw> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (contentType) headers["content-type"] = contentType;
    const res = await fetch(`${base()}${path}`, { method, headers, body });
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const json = (r: Raw) => JSON.parse(r.bytes.toString("utf8")) as Record<string, any>;
  const upload = async (token: string, bytes: Buffer, contentType: string, filename?: string) => {
    const q = filename === undefined ? "" : `?filename=${encodeURIComponent(filename)}`;
    const r = await raw("POST", `${LEGACY}/upload${q}`, token, bytes, contentType);
    assert.equal(r.status, 200, r.bytes.toString());
    const body = json(r);
    assertSpecResponse("client-server", "content-repo.yaml", "POST", "/media/v3/upload", 200, body);
    const m = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/.exec(body.content_uri);
    assert.ok(m, body.content_uri);
    return { server: m[1], id: m[2], uri: body.content_uri as string };
  };
  const thumb = async (token: string, server: string, id: string, w: number, h2: number, method: string) => {
    const r = await raw("GET", `${AUTHED}/thumbnail/${server}/${id}?width=${w}&height=${h2}&method=${method}`, token);
    assert.equal(r.status, 200, r.bytes.toString());
    const meta = await sharp(r.bytes).metadata();
    return { r, width: meta.width!, height: meta.height!, format: meta.format };
  };
  const dataDir = () => h.server.context.config.data_dir;
  const stored = async () => Number(((await h.server.context.db.knex("media").count({ n: "*" }).first()) as { n: unknown }).n);
  return { raw, json, upload, thumb, dataDir, stored };
}

/** A raw upload on a socket: `send` bytes of a body declared as `declared` long, then either end or cut the connection. */
function partialUpload(url: string, token: string, declared: number | undefined, send: number, cut: boolean): Promise<{ status: number; body: string } | "cut"> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}${LEGACY}/upload`);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" };
    if (declared !== undefined) headers["content-length"] = String(declared);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (err) => (cut ? resolve("cut") : reject(err)));
    const chunk = Buffer.alloc(16 * 1024, 7);
    let left = send;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(chunk.subarray(0, n))) return void req.once("drain", pump);
      }
      if (cut) setTimeout(() => req.destroy(), 50);
      else req.end();
    };
    pump();
  });
}

it("file names in Content-Disposition follow RFC 6266 and read back", () => {
  assert.equal(contentDisposition("image/png", "cat.png"), 'inline; filename="cat.png"');
  assert.equal(contentDisposition("text/html", "page.html"), 'attachment; filename="page.html"');
  assert.equal(contentDisposition("image/svg+xml", undefined), "attachment");
  const odd = contentDisposition("image/jpeg", 'Ünïcødé "quoted"; x.jpg');
  assert.equal(odd, "inline; filename*=utf-8''%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%22quoted%22%3B%20x.jpg");
  assert.equal(fileNameOfDisposition(odd), 'Ünïcødé "quoted"; x.jpg');
  assert.equal(fileNameOfDisposition('attachment; filename="a \\"b\\".txt"'), 'a "b".txt');
});

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(c);
  return Buffer.concat(out);
}

it("multipart/mixed reads back what was built, however the bytes are split, and notices a cut-off body", async () => {
  const boundary = "b0undary";
  const media = Buffer.alloc(20_000);
  for (let i = 0; i < media.length; i++) media[i] = (i * 7) % 256;
  // The media may contain CRLF and dashes; only the full delimiter ends it.
  media.write("\r\n--b0undar", 5000);
  const whole = Buffer.concat([Buffer.from("a preamble\r\n"), multipartHead(boundary, { k: 1 }, { "Content-Type": "image/png", "Content-Disposition": "inline" }), media, multipartTail(boundary)]);
  assert.equal(boundaryOf(`multipart/mixed; boundary=${boundary}`), boundary);
  assert.equal(boundaryOf('multipart/mixed; boundary="quoted"'), "quoted");
  assert.equal(boundaryOf("application/json"), undefined);
  for (const size of [1, 7, 4096, 100_000]) {
    const part = await readSecondPart(chunks(whole, size), boundary);
    assert.deepEqual(part.metadata, { k: 1 });
    assert.equal(part.headers.get("content-type"), "image/png");
    assert.ok((await collect(part.body)).equals(media), `split every ${size} bytes`);
    assert.equal(part.complete(), true);
  }
  const cut = await readSecondPart(chunks(whole.subarray(0, whole.length - 30), 1000), boundary);
  await collect(cut.body);
  assert.equal(cut.complete(), false, "no closing delimiter");
  const onePart = Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}--\r\n`);
  await assert.rejects(readSecondPart(chunks(onePart, 5), boundary), MultipartError);
});

it("thumbnail sizes: standard boxes, crop exact, scale within bounds, never upscaled", () => {
  assert.deepEqual(boxFor(32, 32, "crop"), { width: 32, height: 32, method: "crop" });
  assert.deepEqual(boxFor(50, 50, "crop"), { width: 96, height: 96, method: "crop" });
  assert.deepEqual(boxFor(100, 50, "crop"), { width: 100, height: 50, method: "crop" }, "no standard box has that aspect");
  assert.deepEqual(boxFor(300, 300, "scale"), { width: 640, height: 480, method: "scale" });
  assert.deepEqual(boxFor(1000, 10, "scale"), { width: 1000, height: 10, method: "scale" });
  assert.deepEqual(thumbnailSize(4000, 3000, { width: 800, height: 600, method: "scale" }), { width: 800, height: 600 });
  assert.deepEqual(thumbnailSize(4000, 2000, { width: 800, height: 600, method: "scale" }), { width: 800, height: 400 });
  assert.deepEqual(thumbnailSize(4000, 2000, { width: 96, height: 96, method: "crop" }), { width: 96, height: 96 });
  assert.deepEqual(thumbnailSize(50, 200, { width: 96, height: 96, method: "crop" }), { width: 50, height: 50 });
  assert.deepEqual(thumbnailSize(20, 10, { width: 320, height: 240, method: "scale" }), { width: 20, height: 10 });
});

describeOnEachEngine("media", { server_name: "media.test", registration: { enabled: true }, media: { max_upload_bytes: LIMIT, max_pending_uploads: 3 } }, (h) => {
  const m = media(h);

  it("serves config, and refuses the authenticated endpoints without a token", async () => {
    const ann = await h.http.register("ann");
    for (const path of [`${AUTHED}/config`, `${LEGACY}/config`]) {
      const r = await h.http.call("GET", path, undefined, ann.access_token);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { "m.upload.size": LIMIT });
    }
    assertSpecResponse("client-server", "authed-content-repo.yaml", "GET", "/media/config", 200, { "m.upload.size": LIMIT });
    const up = await m.upload(ann.access_token, Buffer.from("hello"), "text/plain");
    for (const path of [
      `${AUTHED}/config`,
      `${AUTHED}/download/${up.server}/${up.id}`,
      `${AUTHED}/download/${up.server}/${up.id}/x.txt`,
      `${AUTHED}/thumbnail/${up.server}/${up.id}?width=32&height=32`,
    ]) {
      const r = await m.raw("GET", path);
      assert.equal(r.status, 401, path);
      assert.equal(m.json(r).errcode, "M_MISSING_TOKEN");
      assert.equal((await m.raw("GET", path, "not-a-token")).status, 401);
    }
    const noToken = await m.raw("POST", `${LEGACY}/upload`, undefined, Buffer.from("x"), "text/plain");
    assert.equal(noToken.status, 401);
  });

  it("uploads PNG and JPEG and downloads them byte for byte with type, name and the spec's headers", async () => {
    const bob = await h.http.register("bob");
    const t = bob.access_token;
    for (const [bytes, type, name] of [[await png(64, 48), "image/png", "green.png"], [await jpeg(640, 480), "image/jpeg", "holiday photo.jpg"]] as const) {
      const up = await m.upload(t, bytes, type, name);
      assert.equal(up.server, "media.test");
      for (const path of [`${AUTHED}/download/${up.server}/${up.id}`, `${LEGACY}/download/${up.server}/${up.id}`]) {
        const r = await m.raw("GET", path, path.startsWith(AUTHED) ? t : undefined);
        assert.equal(r.status, 200);
        assert.ok(r.bytes.equals(bytes), "same bytes");
        assert.equal(r.headers.get("content-type"), type);
        assert.equal(r.headers.get("content-disposition"), `inline; filename="${name}"`);
        assert.equal(r.headers.get("content-length"), String(bytes.length));
        assert.match(r.headers.get("content-security-policy") ?? "", /^sandbox;/);
        assert.equal(r.headers.get("cross-origin-resource-policy"), "cross-origin");
      }
      const renamed = await m.raw("GET", `${AUTHED}/download/${up.server}/${up.id}/${encodeURIComponent("другое имя.jpg")}`, t);
      assert.equal(renamed.status, 200);
      assert.ok(renamed.bytes.equals(bytes));
      assert.equal(fileNameOfDisposition(renamed.headers.get("content-disposition")!), "другое имя.jpg");
      assert.match(renamed.headers.get("content-disposition")!, /^inline; filename\*=utf-8''/);
    }
    // Unsafe types are attachments; no filename when none was given; the type is kept as sent.
    const html = await m.upload(t, Buffer.from("<script>alert(1)</script>"), "text/html; charset=utf-8");
    const r = await m.raw("GET", `${AUTHED}/download/${html.server}/${html.id}`, t);
    assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(r.headers.get("content-disposition"), "attachment");
    const untyped = await m.upload(t, Buffer.from([0, 1, 2]), "");
    assert.equal((await m.raw("GET", `${AUTHED}/download/${untyped.server}/${untyped.id}`, t)).headers.get("content-type"), "application/octet-stream");
    // HEAD answers the headers alone.
    const head = await m.raw("HEAD", `${LEGACY}/download/${html.server}/${html.id}`);
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
  });

  it("thumbnails at the sizes Element asks for, and others, never upscaled", async () => {
    const cat = await h.http.register("cat");
    const t = cat.access_token;
    const photo = await m.upload(t, await jpeg(1600, 1200), "image/jpeg", "photo.jpg");
    for (const [w, hh, method] of [[32, 32, "crop"], [96, 96, "crop"], [320, 240, "scale"], [640, 480, "scale"], [800, 600, "scale"]] as const) {
      const got = await m.thumb(t, photo.server, photo.id, w, hh, method);
      assert.deepEqual([got.width, got.height], [w, hh], `${w}x${hh} ${method}`);
      assert.equal(got.format, "jpeg");
      assert.equal(got.r.headers.get("content-type"), "image/jpeg");
      assert.equal(got.r.headers.get("content-disposition"), 'inline; filename="thumbnail.jpeg"');
    }
    // The same request again comes from the cache: the same bytes.
    const again = await m.thumb(t, photo.server, photo.id, 96, 96, "crop");
    const first = await m.thumb(t, photo.server, photo.id, 64, 64, "crop");
    assert.ok(again.r.bytes.equals(first.r.bytes), "64x64 crop is answered by the 96x96 one");
    // Odd sizes: scale fits the box keeping the aspect, crop is exact.
    const wide = await m.upload(t, await jpeg(1600, 800), "image/jpeg");
    const s = await m.thumb(t, wide.server, wide.id, 320, 240, "scale");
    assert.deepEqual([s.width, s.height], [320, 160], "aspect kept within the box");
    const c = await m.thumb(t, wide.server, wide.id, 300, 100, "crop");
    assert.deepEqual([c.width, c.height], [300, 100]);
    const big = await m.thumb(t, wide.server, wide.id, 1200, 700, "scale");
    assert.deepEqual([big.width, big.height], [1200, 600]);
    // At least the requested size whenever the image allows it.
    const mid = await m.thumb(t, wide.server, wide.id, 500, 100, "scale");
    assert.ok(mid.width >= 500 && mid.width / mid.height === 2, `${mid.width}x${mid.height}`);
    // PNG with alpha stays PNG; one smaller than asked comes back as it is.
    const small = await png(40, 30);
    const tiny = await m.upload(t, small, "image/png");
    const st = await m.thumb(t, tiny.server, tiny.id, 320, 240, "scale");
    assert.ok(st.r.bytes.equals(small), "the original, not upscaled");
    const ct = await m.thumb(t, tiny.server, tiny.id, 96, 96, "crop");
    assert.deepEqual([ct.width, ct.height, ct.format], [30, 30, "png"]);
    // An animation stays one only when asked: animated WebP for animated=true, a still PNG otherwise.
    const frame = (r: number) => sharp({ create: { width: 200, height: 100, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();
    const gif = await sharp([await frame(255), await frame(0), await frame(128)], { join: { animated: true } }).gif().toBuffer();
    const anim = await m.upload(t, gif, "image/gif");
    const moving = await m.raw("GET", `${AUTHED}/thumbnail/${anim.server}/${anim.id}?width=96&height=96&method=crop&animated=true`, t);
    assert.equal(moving.headers.get("content-type"), "image/webp");
    const mm = await sharp(moving.bytes, { animated: true }).metadata();
    assert.deepEqual([mm.pages, mm.width, mm.pageHeight], [3, 96, 96]);
    for (const q of ["animated=false", ""]) {
      const still = await m.raw("GET", `${AUTHED}/thumbnail/${anim.server}/${anim.id}?width=96&height=96&method=crop&${q}`, t);
      assert.equal(still.headers.get("content-type"), "image/png", q);
      const sm = await sharp(still.bytes, { animated: true }).metadata();
      assert.deepEqual([sm.pages ?? 1, sm.width, sm.height], [1, 96, 96], q);
    }
    // animated=true of a still image is the still thumbnail.
    const stillPhoto = await m.raw("GET", `${AUTHED}/thumbnail/${photo.server}/${photo.id}?width=96&height=96&method=crop&animated=true`, t);
    assert.equal(stillPhoto.headers.get("content-type"), "image/jpeg");
    // The legacy endpoint answers too.
    const legacy = await m.raw("GET", `${LEGACY}/thumbnail/${photo.server}/${photo.id}?width=32&height=32&method=crop`);
    assert.equal(legacy.status, 200);
    assert.equal((await sharp(legacy.bytes).metadata()).width, 32);
  });

  it("answers bad thumbnail requests, non-images and unknown media with the spec's errors", async () => {
    const dan = await h.http.register("dan");
    const t = dan.access_token;
    const text = await m.upload(t, Buffer.from("not an image"), "text/plain");
    const liar = await m.upload(t, Buffer.from("not an image either"), "image/png");
    const whole = await jpeg(300, 200);
    const truncated = await m.upload(t, whole.subarray(0, Math.floor(whole.length / 2)), "image/jpeg");
    const svg = await m.upload(t, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="500" height="500"><rect width="500" height="500"/></svg>'), "image/png");
    for (const up of [text, liar, truncated, svg]) {
      const r = await m.raw("GET", `${AUTHED}/thumbnail/${up.server}/${up.id}?width=32&height=32&method=crop`, t);
      assert.equal(r.status, 400);
      assert.equal(m.json(r).errcode, "M_UNKNOWN");
    }
    const photo = await m.upload(t, await jpeg(100, 100), "image/jpeg");
    for (const q of ["width=0&height=10", "width=-5&height=10", "width=1.5&height=10", "width=10&height=10&method=stretch", "width=10&height=10&animated=maybe"]) {
      const r = await m.raw("GET", `${AUTHED}/thumbnail/${photo.server}/${photo.id}?${q}`, t);
      assert.equal(r.status, 400, q);
      assert.equal(m.json(r).errcode, "M_INVALID_PARAM", q);
    }
    const missing = await m.raw("GET", `${AUTHED}/thumbnail/${photo.server}/${photo.id}?width=10`, t);
    assert.equal(missing.status, 400);
    assert.equal(m.json(missing).errcode, "M_MISSING_PARAM");
    for (const path of [
      `${AUTHED}/download/media.test/doesNotExist`,
      `${AUTHED}/download/media.test/doesNotExist/name.txt`,
      `${AUTHED}/thumbnail/media.test/doesNotExist?width=32&height=32`,
      `${AUTHED}/download/media.test/bad.id`,
      `${LEGACY}/download/media.test/doesNotExist`,
      `${LEGACY}/download/other.example/abc?allow_remote=false`,
    ]) {
      const r = await m.raw("GET", path, t);
      assert.equal(r.status, 404, path);
      assert.equal(m.json(r).errcode, "M_NOT_FOUND", path);
    }
    // URL previews are off unless media.url_preview_enabled.
    for (const path of [`${AUTHED}/preview_url?url=https%3A%2F%2Fexample.org`, `${LEGACY}/preview_url?url=https%3A%2F%2Fexample.org`]) {
      const r = await m.raw("GET", path, t);
      assert.equal(r.status, 404, path);
      assert.equal(m.json(r).errcode, "M_UNRECOGNIZED", path);
    }
  });

  it("refuses uploads over media.max_upload_bytes with 413 and keeps nothing, nor of an upload cut off", async () => {
    const eve = await h.http.register("eve");
    const before = await m.stored();
    const content = join(m.dataDir(), "media", "content");
    const filesBefore = files(content).length;
    // Declared too large: refused before a byte is read.
    const declared = await partialUpload(h.server.url, eve.access_token, LIMIT + 1, LIMIT + 1, false);
    assert.notEqual(declared, "cut");
    if (declared !== "cut") {
      assert.equal(declared.status, 413);
      assert.equal(JSON.parse(declared.body).errcode, "M_TOO_LARGE");
    }
    // Sent without a length (chunked) and found too large on the way.
    const streamed = await partialUpload(h.server.url, eve.access_token, undefined, LIMIT + 50_000, false).catch(() => "cut" as const);
    if (streamed !== "cut") {
      assert.equal(streamed.status, 413);
      assert.equal(JSON.parse(streamed.body).errcode, "M_TOO_LARGE");
    }
    // Exactly the limit is fine.
    const ok = await m.upload(eve.access_token, Buffer.alloc(LIMIT, 1), "application/octet-stream");
    assert.ok(ok.id);
    // Cut off half way.
    assert.equal(await partialUpload(h.server.url, eve.access_token, 100_000, 40_000, true), "cut");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await m.stored(), before + 1, "only the upload within the limit was stored");
    assert.equal(files(content).length, filesBefore + 1);
    assert.deepEqual(files(join(m.dataDir(), "media", "tmp")), [], "no half-written file left behind");
  });

  it("reserves an mxc URI with /create and fills it once with PUT; downloads wait for it", async () => {
    const fay = await h.http.register("fay");
    const gus = await h.http.register("gus");
    const t = fay.access_token;
    const created = await m.raw("POST", "/_matrix/media/v1/create", t);
    assert.equal(created.status, 200);
    const body = m.json(created);
    assertSpecResponse("client-server", "content-repo.yaml", "POST", "/media/v1/create", 200, body);
    assert.ok(body.unused_expires_at > Date.now());
    const [, server, id] = /^mxc:\/\/([^/]+)\/(.+)$/.exec(body.content_uri)!;

    const notYet = await m.raw("GET", `${AUTHED}/download/${server}/${id}?timeout_ms=50`, t);
    assert.equal(notYet.status, 504);
    assert.equal(m.json(notYet).errcode, "M_NOT_YET_UPLOADED");
    const notYetThumb = await m.raw("GET", `${AUTHED}/thumbnail/${server}/${id}?width=32&height=32&timeout_ms=50`, t);
    assert.equal(notYetThumb.status, 504);

    const bytes = await jpeg(200, 100);
    const waiting = m.raw("GET", `${AUTHED}/download/${server}/${id}?timeout_ms=10000`, t);
    await new Promise((r) => setTimeout(r, 100));
    const wrongUser = await m.raw("PUT", `${LEGACY}/upload/${server}/${id}`, gus.access_token, bytes, "image/jpeg");
    assert.equal(wrongUser.status, 403);
    assert.equal(m.json(wrongUser).errcode, "M_FORBIDDEN");
    const put = await m.raw("PUT", `${LEGACY}/upload/${server}/${id}?filename=late.jpg`, t, bytes, "image/jpeg");
    assert.equal(put.status, 200, put.bytes.toString());
    assert.deepEqual(m.json(put), {});
    const got = await waiting;
    assert.equal(got.status, 200);
    assert.ok(got.bytes.equals(bytes));
    assert.equal(got.headers.get("content-disposition"), 'inline; filename="late.jpg"');

    const again = await m.raw("PUT", `${LEGACY}/upload/${server}/${id}`, t, Buffer.from("other"), "text/plain");
    assert.equal(again.status, 409);
    assert.equal(m.json(again).errcode, "M_CANNOT_OVERWRITE_MEDIA");
    assert.ok((await m.raw("GET", `${AUTHED}/download/${server}/${id}`, t)).bytes.equals(bytes), "the first upload stands");
    for (const path of [`${LEGACY}/upload/${server}/neverCreated`, `${LEGACY}/upload/other.example/${id}`]) {
      const r = await m.raw("PUT", path, t, bytes, "image/jpeg");
      assert.equal(r.status, 404, path);
      assert.equal(m.json(r).errcode, "M_NOT_FOUND");
    }
    // Two uploads to one reservation at once: one wins, the other is told the media is there.
    const race = m.json(await m.raw("POST", "/_matrix/media/v1/create", t)).content_uri.split("/").pop();
    const [r1, r2] = await Promise.all([Buffer.from("first"), Buffer.from("second")].map((b) => m.raw("PUT", `${LEGACY}/upload/${server}/${race}`, t, b, "text/plain")));
    assert.deepEqual([r1.status, r2.status].sort(), [200, 409]);
    const won = (await m.raw("GET", `${AUTHED}/download/${server}/${race}`, t)).bytes.toString();
    assert.equal(won, r1.status === 200 ? "first" : "second");
    // At most three pending reservations (this suite's max_pending_uploads).
    for (let i = 0; i < 3; i++) assert.equal((await m.raw("POST", "/_matrix/media/v1/create", gus.access_token)).status, 200);
    const over = await m.raw("POST", "/_matrix/media/v1/create", gus.access_token);
    assert.equal(over.status, 429);
    assert.equal(m.json(over).errcode, "M_LIMIT_EXCEEDED");
  });
});

describeOnEachEngine("media with the unauthenticated endpoints frozen", { server_name: "frozen.test", registration: { enabled: true }, media: { freeze_unauthenticated_since_ms: 1 } }, (h) => {
  const m = media(h);
  it("serves new media only on the authenticated endpoints", async () => {
    const ann = await h.http.register("ann");
    const up = await m.upload(ann.access_token, await jpeg(100, 100), "image/jpeg");
    assert.equal((await m.raw("GET", `${AUTHED}/download/${up.server}/${up.id}`, ann.access_token)).status, 200);
    for (const path of [`${LEGACY}/download/${up.server}/${up.id}`, `${LEGACY}/thumbnail/${up.server}/${up.id}?width=32&height=32`]) {
      const r = await m.raw("GET", path);
      assert.equal(r.status, 404, path);
      assert.equal(m.json(r).errcode, "M_NOT_FOUND");
    }
  });
});

describeOnEachEngine("media reservations that lapse", { server_name: "lapse.test", registration: { enabled: true }, media: { unused_expiry_ms: 1000 } }, (h) => {
  const m = media(h);
  it("forgets an mxc URI whose content did not come in time", async () => {
    const ann = await h.http.register("ann");
    const created = m.json(await m.raw("POST", "/_matrix/media/v1/create", ann.access_token));
    assert.ok(created.unused_expires_at <= Date.now() + 1000);
    const id = created.content_uri.split("/").pop();
    await new Promise((r) => setTimeout(r, 1100));
    const put = await m.raw("PUT", `${LEGACY}/upload/lapse.test/${id}`, ann.access_token, Buffer.from("late"), "text/plain");
    assert.equal(put.status, 404);
    assert.equal(m.json(put).errcode, "M_NOT_FOUND");
    const get = await m.raw("GET", `${AUTHED}/download/lapse.test/${id}?timeout_ms=0`, ann.access_token);
    assert.equal(get.status, 404);
  });
});
