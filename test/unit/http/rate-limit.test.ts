import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter } from "../../../src/http/rate-limit.js";
import { MatrixError } from "../../../src/http/errors.js";

describe("RateLimiter", () => {
  it("allows a burst, then refuses with retry_after_ms until tokens refill", () => {
    let now = 0;
    const rl = new RateLimiter({ per_second: 2, burst: 3 }, () => now);
    for (let i = 0; i < 3; i++) rl.take("u");
    try {
      rl.take("u");
      assert.fail("the fourth request should be refused");
    } catch (err) {
      assert.ok(err instanceof MatrixError);
      assert.equal(err.status, 429);
      assert.equal(err.errcode, "M_LIMIT_EXCEEDED");
      assert.equal(err.toJSON().retry_after_ms, 500);
    }
    now += 500;
    rl.take("u"); // one token refilled
    assert.throws(() => rl.take("u"), MatrixError);
    rl.take("someone else"); // buckets are per key
  });

  it("does nothing when per_second is 0", () => {
    const rl = new RateLimiter({ per_second: 0, burst: 1 });
    for (let i = 0; i < 100; i++) rl.take("u");
    assert.equal(rl.enabled, false);
  });
});
