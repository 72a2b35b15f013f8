/**
 * Media between two of our servers over real TLS: a user of one server
 * downloads and thumbnails media uploaded on the other (fetched with a
 * signed request to the v1 federation media endpoint, multipart/mixed),
 * the copy is kept and served when the origin is down, unknown remote
 * media is 404, the federation media routes refuse unsigned requests, and
 * an origin that predates the v1 endpoint is read through the legacy
 * download with allow_remote=false. And with a real Synapse, both ways:
 * its multipart answers read here, ours read there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import sharp from "sharp";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, testCa, type FederatedServer } from "../../support/federation.js";
import { freePort, issueCert } from "../../support/tls.js";
import { startHomeserver } from "../../../src/homeserver.js";
import { createLogger } from "../../../src/logger.js";
import { FederationError } from "../../../federation/client.js";
import { fileNameOfDisposition as fileNameOf } from "../../../src/media/headers.js";
import { boundaryOf, readSecondPart } from "../../../src/media/multipart.js";
import { startSynapse, synapseUnavailable, type SynapseServer } from "../../support/synapse.js";

const AUTHED = "/_matrix/client/v1/media";
const LIMIT = 1_000_000;

async function get(base: string, path: string, token: string) {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function upload(base: string, token: string, bytes: Buffer, type: string, name: string): Promise<string> {
  const res = await fetch(`${base}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": type }, body: bytes,
  });
  assert.equal(res.status, 200);
  const uri = ((await res.json()) as { content_uri: string }).content_uri;
  return uri.slice("mxc://".length);
}

/** A stand-in for an older homeserver: no v1 federation media endpoint, only the legacy download. */
async function legacyOrigin(bytes: Buffer, seen: string[]): Promise<{ name: string; server: Server }> {
  const port = await freePort();
  const cert = issueCert(testCa(), ["localhost", "127.0.0.1"]);
  const server = createServer({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) }, (req, res) => {
    seen.push(req.url ?? "");
    if (req.url?.startsWith(`/_matrix/media/v3/download/localhost%3A${port}/huge`)) {
      // Over the fetching server's limit, and sent without a length: it must stop reading on its own.
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.alloc(LIMIT + 100_000, 1));
      return;
    }
    if (req.url?.startsWith("/_matrix/federation/v1/media/download/plain")) {
      // A server whose router mistakes the v1 path for another route: a bare 400, not a Matrix error.
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("Invalid origin");
      return;
    }
    if ((req.url?.startsWith(`/_matrix/media/v3/download/localhost%3A${port}/old`) || req.url?.startsWith(`/_matrix/media/v3/download/localhost%3A${port}/plain`)) && req.url.includes("allow_remote=false")) {
      res.writeHead(200, { "content-type": "image/png", "content-disposition": "inline; filename=\"old.png\"", "content-length": bytes.length });
      res.end(bytes);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Unrecognized request" }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { name: `localhost:${port}`, server };
}

for (const engine of ENGINES) {
  describe(`media across servers on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2, { media: { max_upload_bytes: LIMIT } });
    });
    after(async () => {
      await stopFederatedServers([a, b]);
    });

    it("downloads and thumbnails another server's media, keeps a copy, and says 404 for unknown media", { timeout: 60_000 }, async () => {
      const ann = await a.http.register("ann");
      const bob = await b.http.register("bob");
      const photo = await sharp({ create: { width: 1200, height: 900, channels: 3, background: { r: 90, g: 20, b: 200 } } }).jpeg().toBuffer();
      const ref = await upload(a.server.url, ann.access_token, photo, "image/jpeg", "remote photo.jpg");
      assert.ok(ref.startsWith(`${a.name}/`));

      const got = await get(b.server.url, `${AUTHED}/download/${ref}`, bob.access_token);
      assert.equal(got.status, 200, got.bytes.toString());
      assert.ok(got.bytes.equals(photo), "byte for byte across servers");
      assert.equal(got.headers.get("content-type"), "image/jpeg");
      assert.equal(got.headers.get("content-disposition"), 'inline; filename="remote photo.jpg"');

      const thumb = await get(b.server.url, `${AUTHED}/thumbnail/${ref}?width=96&height=96&method=crop`, bob.access_token);
      assert.equal(thumb.status, 200);
      const meta = await sharp(thumb.bytes).metadata();
      assert.deepEqual([meta.width, meta.height], [96, 96]);
      const scaled = await get(b.server.url, `${AUTHED}/thumbnail/${ref}?width=320&height=240&method=scale`, bob.access_token);
      assert.deepEqual([(await sharp(scaled.bytes).metadata()).width, (await sharp(scaled.bytes).metadata()).height], [320, 240]);

      const cached = await b.server.context.db.knex("media").where({ origin: a.name, media_id: ref.split("/")[1] }).first();
      assert.equal(cached.size, photo.length);
      assert.equal(cached.upload_name, "remote photo.jpg");

      const unknown = await get(b.server.url, `${AUTHED}/download/${a.name}/noSuchMedia`, bob.access_token);
      assert.equal(unknown.status, 404);
      assert.equal(JSON.parse(unknown.bytes.toString()).errcode, "M_NOT_FOUND");
      const unknownThumb = await get(b.server.url, `${AUTHED}/thumbnail/${a.name}/noSuchMedia?width=32&height=32`, bob.access_token);
      assert.equal(unknownThumb.status, 404);

      // The origin goes away; the copy is still served.
      await a.server.stop();
      try {
        const again = await get(b.server.url, `${AUTHED}/download/${ref}`, bob.access_token);
        assert.equal(again.status, 200);
        assert.ok(again.bytes.equals(photo));
        const other = await get(b.server.url, `${AUTHED}/download/${a.name}/neverFetched`, bob.access_token);
        assert.equal(other.status, 502, "an unreachable origin is a 502");
      } finally {
        a.server = await startHomeserver(a.db.config(a.settings), createLogger("warn"));
      }
    });

    it("serves its media to other servers as multipart/mixed, only on signed requests", { timeout: 30_000 }, async () => {
      const cat = await a.http.register("cat");
      const bytes = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } }).png().toBuffer();
      const ref = await upload(a.server.url, cat.access_token, bytes, "image/png", "p.png");
      const mediaId = ref.split("/")[1];
      const client = b.server.federation.client;
      const res = await client.stream(a.name, `/_matrix/federation/v1/media/download/${mediaId}`);
      const boundary = boundaryOf(res.headers["content-type"]);
      assert.ok(boundary, res.headers["content-type"]);
      const part = await readSecondPart(res as AsyncIterable<Buffer>, boundary);
      assert.deepEqual(part.metadata, {});
      assert.equal(part.headers.get("content-type"), "image/png");
      assert.equal(part.headers.get("content-disposition"), 'inline; filename="p.png"');
      const chunks: Buffer[] = [];
      for await (const c of part.body) chunks.push(c);
      assert.ok(part.complete());
      assert.ok(Buffer.concat(chunks).equals(bytes));

      const t = await client.stream(a.name, `/_matrix/federation/v1/media/thumbnail/${mediaId}`, { query: { width: 32, height: 32, method: "crop" } });
      const tp = await readSecondPart(t as AsyncIterable<Buffer>, boundaryOf(t.headers["content-type"])!);
      const tc: Buffer[] = [];
      for await (const c of tp.body) tc.push(c);
      assert.equal((await sharp(Buffer.concat(tc)).metadata()).width, 32);

      await assert.rejects(client.stream(a.name, `/_matrix/federation/v1/media/download/${mediaId}`, { unsigned: true }), (err: unknown) => {
        assert.ok(err instanceof FederationError);
        assert.equal(err.status, 401);
        return true;
      });
      await assert.rejects(client.stream(a.name, `/_matrix/federation/v1/media/download/noSuchMedia`), (err: unknown) => {
        assert.ok(err instanceof FederationError);
        assert.equal(err.status, 404);
        assert.equal(err.body?.errcode, "M_NOT_FOUND");
        return true;
      });
    });

    it("falls back to the legacy download with allow_remote=false when the origin has no v1 endpoint", { timeout: 30_000 }, async () => {
      const dan = await b.http.register("dan");
      const bytes = await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
      const seen: string[] = [];
      const old = await legacyOrigin(bytes, seen);
      try {
        const got = await get(b.server.url, `${AUTHED}/download/${old.name}/old`, dan.access_token);
        assert.equal(got.status, 200, got.bytes.toString());
        assert.ok(got.bytes.equals(bytes));
        assert.equal(got.headers.get("content-type"), "image/png");
        assert.equal(got.headers.get("content-disposition"), 'inline; filename="old.png"');
        assert.ok(seen[0].startsWith("/_matrix/federation/v1/media/download/old"), seen[0]);
        assert.ok(seen[1].includes("allow_remote=false"), seen[1]);

        // A bare 400 from the v1 endpoint is worth the legacy one too (Complement: TestMediaWithoutFileName).
        const plain = await get(b.server.url, `${AUTHED}/download/${old.name}/plain`, dan.access_token);
        assert.equal(plain.status, 200, plain.bytes.toString());
        assert.ok(plain.bytes.equals(bytes));

        const huge = await get(b.server.url, `${AUTHED}/download/${old.name}/huge`, dan.access_token);
        assert.equal(huge.status, 502);
        assert.equal(JSON.parse(huge.bytes.toString()).errcode, "M_TOO_LARGE");
        assert.equal(await b.server.context.db.knex("media").where({ origin: old.name, media_id: "huge" }).first(), undefined, "nothing cached");
      } finally {
        await new Promise((r) => old.server.close(r));
      }
    });
  });
}

for (const engine of ENGINES) {
  const skip = engine === "postgres" ? postgresUnavailable() : undefined;
  describe(`media with Synapse on ${engine}`, { skip: skip ?? synapseUnavailable() }, () => {
    let ours: FederatedServer;
    let synapse: SynapseServer;

    before(async () => {
      [ours] = await startFederatedServers(engine, 1);
      synapse = await startSynapse(testCa());
    });
    after(async () => {
      await synapse?.stop();
      await stopFederatedServers([ours]);
    });

    it("downloads and thumbnails media across both servers", { timeout: 90_000 }, async () => {
      const alice = await ours.http.register("alice");
      const sam = await synapse.http.register("sam");
      const picture = await sharp({ create: { width: 900, height: 600, channels: 3, background: { r: 250, g: 120, b: 10 } } }).jpeg().toBuffer();

      // Synapse's media, read by our user through our server.
      const theirs = await upload(synapse.clientUrl, sam.access_token, picture, "image/jpeg", "from synapse.jpg");
      const got = await get(ours.server.url, `${AUTHED}/download/${theirs}`, alice.access_token);
      assert.equal(got.status, 200, got.bytes.toString());
      assert.ok(got.bytes.equals(picture), "Synapse's bytes, unchanged");
      assert.equal(got.headers.get("content-type"), "image/jpeg");
      assert.equal(fileNameOf(got.headers.get("content-disposition") ?? undefined), "from synapse.jpg");
      const thumb = await get(ours.server.url, `${AUTHED}/thumbnail/${theirs}?width=96&height=96&method=crop`, alice.access_token);
      assert.equal(thumb.status, 200);
      assert.equal((await sharp(thumb.bytes).metadata()).width, 96);

      // Our media, read by Synapse's user through Synapse (which asks our federation endpoint).
      const mine = await upload(ours.server.url, alice.access_token, picture, "image/jpeg", "from pimatrix.jpg");
      const there = await get(synapse.clientUrl, `${AUTHED}/download/${mine}`, sam.access_token);
      assert.equal(there.status, 200, there.bytes.toString());
      assert.ok(there.bytes.equals(picture), "our bytes, as Synapse serves them");
      assert.equal(there.headers.get("content-type"), "image/jpeg");
      assert.equal(fileNameOf(there.headers.get("content-disposition") ?? undefined), "from pimatrix.jpg");
      const theirThumb = await get(synapse.clientUrl, `${AUTHED}/thumbnail/${mine}?width=320&height=240&method=scale`, sam.access_token);
      assert.equal(theirThumb.status, 200, theirThumb.bytes.toString());
      const tm = await sharp(theirThumb.bytes).metadata();
      assert.ok(tm.width! <= 320 && tm.height! <= 240 && tm.width! > 0, `${tm.width}x${tm.height}`);
    });
  });
}
