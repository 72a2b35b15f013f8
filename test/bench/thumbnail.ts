/**
 * Thumbnailing a large photo: a 4000x3000 JPEG (a 12-megapixel camera
 * picture, textured so it compresses like one) through the thumbnailer the
 * server uses (src/media/thumbnailer.ts: probe, then render), at each size
 * Element asks for. Prints the median time per size, all five in a row,
 * and the peak memory, with libvips on one thread (sharp's default on
 * glibc Linux, a Pi included) and on two.
 *
 *   npm run build && node dist/test/bench/thumbnail.js [runs-per-size] [width] [height]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { probe, render } from "../../src/media/thumbnailer.js";
import { STANDARD_BOXES, thumbnailSize } from "../../src/media/thumbnail-sizes.js";

const runs = Number(process.argv[2] ?? "5");
const width = Number(process.argv[3] ?? "4000");
const height = Number(process.argv[4] ?? "3000");

async function photo(): Promise<Buffer> {
  // Smooth gradients plus per-pixel noise: about the entropy of a real photo, so decoding costs what it would.
  const raw = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = (seed >> 16) & 31;
      const i = (y * width + x) * 3;
      raw[i] = ((x * 255) / width + n) & 255;
      raw[i + 1] = ((y * 255) / height + n) & 255;
      raw[i + 2] = (((x + y) * 128) / (width + height) + 64 + n) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "pimatrix-thumb-bench-"));
  try {
    const path = join(dir, "photo.jpg");
    const bytes = await photo();
    writeFileSync(path, bytes);
    const rssBefore = process.memoryUsage().rss;
    console.log(`source: ${width}x${height} JPEG, ${(bytes.length / 1048576).toFixed(2)} MiB; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; ${runs} runs per size`);
    const defaultThreads = sharp.concurrency();
    for (const threads of [1, 2]) {
      sharp.concurrency(threads);
      const label = `libvips threads: ${threads}${threads === defaultThreads ? " (sharp's default here; on glibc Linux it is 1, which the server keeps)" : ""}`;
      console.log(`\n${label}`);
      const probeTimes: number[] = [];
      let info = await probe(path, 1e9);
      for (let i = 0; i < runs; i++) {
        const t = process.hrtime.bigint();
        info = await probe(path, 1e9);
        probeTimes.push(ms(t));
      }
      if (!info) throw new Error("not an image");
      console.log(`  probe (header only): ${median(probeTimes).toFixed(1)} ms`);
      console.log("  | box | method | output | median | bytes |");
      const all: number[] = [];
      for (const box of STANDARD_BOXES) {
        const size = thumbnailSize(info.width, info.height, box);
        const times: number[] = [];
        let out = 0;
        for (let i = 0; i < runs; i++) {
          const t = process.hrtime.bigint();
          const r = await render(path, info, size.width, size.height, box.method, false);
          times.push(ms(t));
          out = r.data.length;
        }
        console.log(`  | ${box.width}x${box.height} | ${box.method} | ${size.width}x${size.height} | ${median(times).toFixed(1)} ms | ${out} |`);
      }
      for (let i = 0; i < runs; i++) {
        const t = process.hrtime.bigint();
        for (const box of STANDARD_BOXES) {
          const size = thumbnailSize(info.width, info.height, box);
          await render(path, info, size.width, size.height, box.method, false);
        }
        all.push(ms(t));
      }
      console.log(`  all five sizes one after another: ${median(all).toFixed(1)} ms`);
    }
    const mib = (n: number) => (n / 1048576).toFixed(1);
    console.log(`\nRSS once the source was made: ${mib(rssBefore)} MiB; after thumbnailing: ${mib(process.memoryUsage().rss)} MiB; peak: ${mib(process.resourceUsage().maxRSS * 1024)} MiB (the peak includes making the source picture)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
