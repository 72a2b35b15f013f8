/**
 * The media repository as matrix-js-sdk (Element's SDK) uses it: upload
 * through the SDK, the authenticated media config, and thumbnail and
 * download URLs built by the SDK's own mxcUrlToHttp for authenticated
 * media, fetched with the access token as Element does.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { describeOnEachEngine } from "../support/server.js";
import { registerClient } from "../support/js-sdk.js";

describeOnEachEngine("media through matrix-js-sdk", { server_name: "sdk-media.test", registration: { enabled: true } }, (h) => {
  it("uploads with the SDK and serves what its authenticated media URLs ask for", async () => {
    const client = await registerClient(h.server.url, "ann");
    const photo = await sharp({ create: { width: 1000, height: 750, channels: 3, background: { r: 30, g: 60, b: 90 } } }).jpeg().toBuffer();
    const { content_uri: uri } = await client.uploadContent(photo, { type: "image/jpeg", name: "sdk.jpg" });
    assert.match(uri, /^mxc:\/\/sdk-media\.test\//);
    const config = await client.getMediaConfig();
    assert.equal(config["m.upload.size"], 52428800);

    const auth = { headers: { authorization: `Bearer ${client.getAccessToken()}` } };
    const download = client.mxcUrlToHttp(uri, undefined, undefined, undefined, false, true, true)!;
    assert.ok(download.includes("/_matrix/client/v1/media/download/"), download);
    const got = await fetch(download, auth);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(photo));

    for (const [w, hh, method, expect] of [[96, 96, "crop", [96, 96]], [800, 600, "scale", [800, 600]], [320, 240, "scale", [320, 240]]] as const) {
      const url = client.mxcUrlToHttp(uri, w, hh, method, false, true, true)!;
      assert.ok(url.includes("/_matrix/client/v1/media/thumbnail/"), url);
      const res = await fetch(url, auth);
      assert.equal(res.status, 200, url);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      assert.deepEqual([meta.width, meta.height], expect, url);
    }
    client.stopClient();
  });
});
