/**
 * URL previews against a web server on loopback: OpenGraph from a page
 * (relative og:image fetched and stored as media, with its size and
 * dimensions), title and description fallbacks, redirects, a URL that is
 * itself an image, other types, bad URLs; and loopback refused when
 * private addresses are not allowed.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";
import { openGraph } from "../../src/media/opengraph.js";

const AUTHED = "/_matrix/client/v1/media";

let site: Server;
let base = "";
let image: Buffer;
const hits: string[] = [];

before(async () => {
  image = await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 200, g: 100, b: 0 } } }).png().toBuffer();
  site = createServer((req, res) => {
    hits.push(req.url ?? "");
    switch (req.url) {
      case "/page":
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(`<!doctype html><html><head><title>ignored</title>
          <meta property="og:title" content="Fish &amp; Chips">
          <meta property='og:description' content='A "classic"'>
          <meta property="og:image" content="/img.png"></head><body>hi</body></html>`);
        return;
      case "/plain":
        res.writeHead(200, { "content-type": "text/html" });
        res.end(`<html><head><title> Just a   title </title><meta name="description" content="described"></head></html>`);
        return;
      case "/moved":
        res.writeHead(302, { location: "/page" });
        res.end();
        return;
      case "/img.png":
      case "/direct.png":
        res.writeHead(200, { "content-type": "image/png", "content-length": image.length });
        res.end(image);
        return;
      case "/file.zip":
        res.writeHead(200, { "content-type": "application/zip" });
        res.end(Buffer.alloc(100));
        return;
      default:
        res.writeHead(404);
        res.end();
    }
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => site.close(() => resolve())));

it("reads OpenGraph properties, with the title and description as fallbacks", () => {
  assert.deepEqual(openGraph(`<meta content="x" property="og:title"><meta property="og:title" content="second">`), { "og:title": "x" });
  assert.deepEqual(openGraph(`<TITLE>T&#39;s &#x41;</TITLE><META NAME="Description" CONTENT="d">`), { "og:title": "T's A", "og:description": "d" });
  assert.deepEqual(openGraph("no tags"), {});
});

describeOnEachEngine("URL previews", { server_name: "preview.test", registration: { enabled: true }, media: { url_preview_enabled: true, url_preview_allow_private_addresses: true } }, (h) => {
  const q = (url: string) => `${AUTHED}/preview_url?url=${encodeURIComponent(url)}`;

  it("previews a page with its image stored as media", async () => {
    const ann = await h.http.register("ann");
    const r = await h.http.call("GET", q(`${base}/page`), undefined, ann.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "authed-content-repo.yaml", "GET", "/media/preview_url", 200, r.body);
    assert.equal(r.body["og:title"], "Fish & Chips");
    assert.equal(r.body["og:description"], 'A "classic"');
    assert.match(r.body["og:image"], /^mxc:\/\/preview\.test\//);
    assert.equal(r.body["og:image:type"], "image/png");
    assert.equal(r.body["matrix:image:size"], image.length);
    assert.equal(r.body["og:image:width"], 120);
    assert.equal(r.body["og:image:height"], 80);
    const id = (r.body["og:image"] as string).split("/").pop();
    const dl = await fetch(`${h.server.url}${AUTHED}/download/preview.test/${id}`, { headers: { authorization: `Bearer ${ann.access_token}` } });
    assert.ok(Buffer.from(await dl.arrayBuffer()).equals(image), "the stored image is the page's");

    const before = hits.length;
    const again = await h.http.call("GET", q(`${base}/page`), undefined, ann.access_token);
    assert.deepEqual(again.body, r.body);
    assert.equal(hits.length, before, "the second preview comes from the cache");
  });

  it("follows redirects, previews images and falls back to title and description", async () => {
    const bob = await h.http.register("bob");
    const t = bob.access_token;
    const moved = await h.http.call("GET", q(`${base}/moved`), undefined, t);
    assert.equal(moved.body["og:title"], "Fish & Chips");
    const plain = await h.http.call("GET", q(`${base}/plain`), undefined, t);
    assert.deepEqual(plain.body, { "og:title": "Just a title", "og:description": "described" });
    const direct = await h.http.call("GET", q(`${base}/direct.png`), undefined, t);
    assert.equal(direct.body["og:image:width"], 120);
    assert.match(direct.body["og:image"], /^mxc:\/\//);
    const zip = await h.http.call("GET", q(`${base}/file.zip`), undefined, t);
    assert.equal(zip.status, 200);
    assert.deepEqual(zip.body, {});
  });

  it("answers bad requests with the spec's errors", async () => {
    const cat = await h.http.register("cat");
    const t = cat.access_token;
    assert.equal((await h.http.call("GET", q(`${base}/page`))).status, 401);
    const missing = await h.http.call("GET", `${AUTHED}/preview_url`, undefined, t);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.errcode, "M_MISSING_PARAM");
    for (const url of ["not a url", "ftp://127.0.0.1/x", "file:///etc/passwd", "http://user:pw@127.0.0.1/"]) {
      const r = await h.http.call("GET", q(url), undefined, t);
      assert.equal(r.status, 400, url);
      assert.equal(r.body.errcode, "M_INVALID_PARAM", url);
    }
    const gone = await h.http.call("GET", q(`${base}/nothing-here`), undefined, t);
    assert.equal(gone.status, 502);
  });
});

describeOnEachEngine("URL previews guarding private addresses", { server_name: "guarded.test", registration: { enabled: true }, media: { url_preview_enabled: true } }, (h) => {
  it("refuses to fetch loopback addresses", async () => {
    const ann = await h.http.register("ann");
    const before = hits.length;
    for (const url of [`${base}/page`, base.replace("127.0.0.1", "localhost") + "/page"]) {
      const r = await h.http.call("GET", `${AUTHED}/preview_url?url=${encodeURIComponent(url)}`, undefined, ann.access_token);
      assert.equal(r.status, 502, url);
    }
    assert.equal(hits.length, before, "nothing reached the site");
  });
});
