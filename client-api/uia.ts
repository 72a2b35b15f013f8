/**
 * User-interactive authentication (client-server API: user-interactive
 * authentication API). An endpoint names the flows it accepts; a request
 * without enough completed stages gets 401 with the flows, the session id
 * and what is already completed; the client completes stages one request
 * at a time, repeating the original body with an `auth` dict.
 *
 * Sessions live in memory for ten minutes: losing them on restart only
 * makes a client start its registration or password change again.
 */
import NodeCache from "node-cache";
import { randomBytes } from "node:crypto";
import type { ServerContext } from "../src/context.js";
import { MatrixError, forbidden } from "../src/http/errors.js";

export type Stage = string;

/** Checks one stage's auth dict; throws a MatrixError when it is wrong. */
export type StageCheck = (auth: Record<string, unknown>) => Promise<void> | void;

interface Session {
  readonly completed: Set<Stage>;
  /** What the session was started for, so it cannot be replayed for another request. */
  readonly purpose: string;
}

export class InteractiveAuth {
  private readonly sessions = new NodeCache({ stdTTL: 600, checkperiod: 120, useClones: false, maxKeys: 100_000 });

  /**
   * Resolves when `body.auth` completes one of `flows`; otherwise throws
   * the 401 that tells the client what to do next.
   */
  async require(
    purpose: string,
    body: Record<string, unknown>,
    flows: Stage[][],
    checks: Record<Stage, StageCheck>,
    params: Record<string, unknown> = {},
  ): Promise<void> {
    const auth = body.auth;
    let sessionId: string | undefined;
    let session: Session | undefined;
    if (auth !== undefined && (typeof auth !== "object" || auth === null || Array.isArray(auth))) {
      throw new MatrixError(400, "M_BAD_JSON", "auth must be an object");
    }
    const authDict = auth as Record<string, unknown> | undefined;
    if (authDict && typeof authDict.session === "string") {
      session = this.sessions.get<Session>(authDict.session);
      if (!session || session.purpose !== purpose) throw new MatrixError(400, "M_UNKNOWN", "Unknown or expired session");
      sessionId = authDict.session;
    }
    if (!session) {
      sessionId = randomBytes(16).toString("base64url");
      session = { completed: new Set(), purpose };
      this.sessions.set(sessionId, session);
    }
    const challenge = (error?: MatrixError) =>
      new UiaRequired(error, { flows: flows.map((stages) => ({ stages })), params, session: sessionId, completed: [...session!.completed] });

    if (authDict && typeof authDict.type === "string") {
      const stage = authDict.type;
      const check = checks[stage];
      if (!check || !flows.some((f) => f.includes(stage))) {
        throw challenge(new MatrixError(400, "M_UNRECOGNIZED", `Unsupported auth stage ${stage}`));
      }
      try {
        await check(authDict);
      } catch (err) {
        if (err instanceof NotYours) throw new MatrixError(403, "M_FORBIDDEN", err.message);
        if (err instanceof MatrixError) throw challenge(err);
        throw err;
      }
      session.completed.add(stage);
    }
    if (flows.some((f) => f.every((s) => session!.completed.has(s)))) {
      this.sessions.del(sessionId!);
      return;
    }
    throw challenge();
  }
}

/**
 * The 401 of user-interactive auth. Its body is the flows and session, plus
 * errcode and error only when a submitted stage failed.
 */
export class UiaRequired extends MatrixError {
  constructor(
    private readonly failure: MatrixError | undefined,
    private readonly state: Record<string, unknown>,
  ) {
    super(401, failure?.errcode ?? "M_FORBIDDEN", failure?.message ?? "Additional authentication required");
  }

  override toJSON(): Record<string, unknown> {
    if (!this.failure) return { ...this.state };
    return { errcode: this.failure.errcode, error: this.failure.message, ...this.state };
  }
}

/** A stage completed for someone other than the user the action is for. */
class NotYours extends Error {}

/**
 * Re-authentication of a signed-in user before a sensitive action (changing
 * the password, deleting devices, replacing cross-signing keys): the
 * m.login.password stage, for this user only. `purpose` ties the session to
 * the action so it cannot be replayed for another.
 */
export async function confirmUser(uia: InteractiveAuth, hs: ServerContext, purpose: string, userId: string, body: Record<string, unknown>): Promise<void> {
  await uia.require(`${purpose}:${userId}`, body, [["m.login.password"]], { "m.login.password": passwordStage(hs, userId) });
}

function passwordStage(hs: ServerContext, userId: string): StageCheck {
  return async (auth) => {
    const identifier = auth.identifier as Record<string, unknown> | undefined;
    const given = typeof identifier?.user === "string" ? identifier.user : typeof auth.user === "string" ? auth.user : undefined;
    const claimed = given === undefined ? userId : given.startsWith("@") ? given : `@${given}:${hs.config.server_name}`;
    // Another user's credentials cannot authorise this user's action, however right they are: a refusal, not a new challenge.
    if (claimed !== userId) throw new NotYours("The authenticated user is not the one this action is for");
    if (typeof auth.password !== "string" || !(await hs.accounts.checkPassword(userId, auth.password))) {
      throw forbidden("Invalid password");
    }
  };
}
