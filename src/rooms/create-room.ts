/**
 * POST /createRoom as the spec orders it (and Synapse fills it): create,
 * the creator's join, power levels (override merged), the preset's join
 * rules / history visibility / guest access, initial_state, name, topic,
 * invites. Everything the request carries is validated before the first
 * event, so a refused request creates nothing.
 */
import type { ServerContext } from "../context.js";
import { MatrixError, badJson, invalidParam } from "../http/errors.js";
import { isValidRoomAlias, isValidUserId } from "../room/identifiers.js";
import { AuthError, EventFormatError, stateKey, type JsonObject, type JsonValue } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { sendInvite } from "./invite.js";
import type { RoomClientStore } from "./room-data.js";

type Preset = "private_chat" | "public_chat" | "trusted_private_chat";
const PRESETS: readonly Preset[] = ["private_chat", "public_chat", "trusted_private_chat"];

interface InitialState {
  type: string;
  stateKey: string;
  content: JsonObject;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optionalStringField(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badJson(`${key} must be a string`);
  return v;
}

function optionalObjectField(body: Record<string, unknown>, key: string): JsonObject | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw badJson(`${key} must be an object`);
  return v;
}

/** A member event's content with the user's profile, as clients expect. */
export async function memberContent(hs: ServerContext, userId: string, membership: string, extra: JsonObject = {}): Promise<JsonObject> {
  const profile = await hs.profiles.get(userId);
  const content: JsonObject = { membership };
  if (profile?.displayname !== undefined) content.displayname = profile.displayname;
  if (profile?.avatar_url !== undefined) content.avatar_url = profile.avatar_url;
  return { ...content, ...extra };
}

export async function createRoom(
  hs: ServerContext,
  store: RoomClientStore,
  creator: string,
  body: Record<string, unknown>,
): Promise<string> {
  // ---- validate everything first ----
  const visibility = optionalStringField(body, "visibility") ?? "private";
  if (visibility !== "public" && visibility !== "private") throw badJson("visibility must be public or private");
  const presetRaw = optionalStringField(body, "preset");
  if (presetRaw !== undefined && !PRESETS.includes(presetRaw as Preset)) throw badJson(`Unknown preset ${presetRaw}`);
  const preset: Preset = (presetRaw as Preset | undefined) ?? (visibility === "public" ? "public_chat" : "private_chat");
  const name = optionalStringField(body, "name");
  const topic = optionalStringField(body, "topic");
  const aliasName = optionalStringField(body, "room_alias_name");
  const alias = aliasName === undefined ? undefined : `#${aliasName}:${hs.config.server_name}`;
  if (alias !== undefined) {
    if (!isValidRoomAlias(alias)) throw invalidParam(`Invalid room alias ${alias}`);
    if (await hs.aliases.get(alias)) throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
  }
  const isDirect = body.is_direct;
  if (isDirect !== undefined && isDirect !== null && typeof isDirect !== "boolean") throw badJson("is_direct must be a boolean");
  const inviteRaw = body.invite ?? [];
  if (!Array.isArray(inviteRaw)) throw badJson("invite must be a list of user ids");
  for (const u of inviteRaw) {
    if (typeof u !== "string") throw badJson("invite must be a list of user ids");
    if (!isValidUserId(u)) throw invalidParam(`Invalid user id ${u}`);
  }
  const invites = [...new Set(inviteRaw as string[])].filter((u) => u !== creator);
  if (body.invite_3pid !== undefined && body.invite_3pid !== null) {
    if (!Array.isArray(body.invite_3pid)) throw badJson("invite_3pid must be a list");
    if (body.invite_3pid.length > 0) throw new MatrixError(400, "M_UNKNOWN", "Third-party invites are not supported");
  }
  const creationContent = optionalObjectField(body, "creation_content") ?? {};
  const plOverride = optionalObjectField(body, "power_level_content_override");
  const version = body.room_version ?? hs.config.default_room_version;
  if (typeof version !== "string") throw badJson("room_version must be a string");
  const rules = getRoomVersion(version);
  if (!rules) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${version} is not supported`);
  const initialRaw = body.initial_state ?? [];
  if (!Array.isArray(initialRaw)) throw badJson("initial_state must be a list");
  const initial: InitialState[] = [];
  for (const e of initialRaw) {
    if (!isObject(e) || typeof e.type !== "string" || !isObject(e.content)) {
      throw badJson("each initial_state entry needs a string type and an object content");
    }
    const sk = e.state_key ?? "";
    if (typeof sk !== "string") throw badJson("initial_state state_key must be a string");
    if (e.type === "m.room.create" || e.type === "m.room.member") throw badJson(`${e.type} may not be in initial_state`);
    initial.push({ type: e.type, stateKey: sk, content: e.content });
  }
  const initialByKey = new Map(initial.map((e) => [stateKey(e.type, e.stateKey), e]));
  const trusted = preset === "trusted_private_chat";

  // ---- the events ----
  const create: JsonObject = { ...creationContent };
  delete create.room_version;
  delete create.creator;
  if (rules.privilegedCreators && trusted && invites.length) {
    const extra = Array.isArray(create.additional_creators) ? (create.additional_creators as JsonValue[]) : [];
    create.additional_creators = [...new Set([...extra, ...invites])];
  }
  // v12: creators hold infinite power and may not be listed in power levels; an override that lists one is a bad request, refused before anything is made.
  if (rules.privilegedCreators && isObject(plOverride?.users)) {
    const creators = [creator, ...(Array.isArray(create.additional_creators) ? create.additional_creators : [])];
    for (const c of creators) {
      if (typeof c === "string" && Object.hasOwn(plOverride.users, c)) throw badJson(`power_level_content_override.users must not list the room creator ${c}`);
    }
  }
  let created;
  try {
    created = await hs.localEvents.createRoom(creator, version, create);
  } catch (err) {
    // Checked before anything is stored: a bad creation_content creates nothing.
    if (err instanceof EventFormatError || err instanceof AuthError) throw badJson(`creation_content: ${err.message}`);
    throw err;
  }
  const roomId = created.event.roomId;
  await store.setVisibility(roomId, visibility);
  const send = (type: string, sk: string, content: JsonObject) =>
    hs.localEvents.send(roomId, { type, stateKey: sk, sender: creator, content });

  await send("m.room.member", creator, await memberContent(hs, creator, "join"));

  const plKey = stateKey("m.room.power_levels", "");
  const initialPl = initialByKey.get(plKey);
  if (initialPl) {
    await send("m.room.power_levels", "", initialPl.content);
  } else {
    const users: JsonObject = {};
    if (!rules.privilegedCreators) {
      users[creator] = 100;
      if (trusted) for (const u of invites) users[u] = 100;
    }
    const events: JsonObject = {
      "m.room.name": 50,
      "m.room.power_levels": 100,
      "m.room.history_visibility": 100,
      "m.room.canonical_alias": 50,
      "m.room.avatar": 50,
      "m.room.tombstone": rules.privilegedCreators ? 150 : 100,
      "m.room.server_acl": 100,
      "m.room.encryption": 100,
    };
    const pl: JsonObject = {
      users,
      users_default: 0,
      events,
      events_default: 0,
      state_default: 50,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: preset === "public_chat" ? 50 : 0,
    };
    await send("m.room.power_levels", "", { ...pl, ...(plOverride ?? {}) });
  }

  // Claimed only now that the room exists; a race for the same name loses here, before any further event.
  if (alias !== undefined) {
    if (!(await hs.aliases.create(alias, roomId, creator))) throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    await send("m.room.canonical_alias", "", { alias });
  }

  const presetState: Array<[string, JsonObject]> = [
    ["m.room.join_rules", { join_rule: preset === "public_chat" ? "public" : "invite" }],
    ["m.room.history_visibility", { history_visibility: "shared" }],
  ];
  if (preset !== "public_chat") presetState.push(["m.room.guest_access", { guest_access: "can_join" }]);
  for (const [type, content] of presetState) {
    const fromInitial = initialByKey.get(stateKey(type, ""));
    await send(type, "", fromInitial?.content ?? content);
  }
  const done = new Set([plKey, ...presetState.map(([t]) => stateKey(t, ""))]);
  for (const e of initial) {
    const k = stateKey(e.type, e.stateKey);
    if (done.has(k)) continue;
    if ((k === stateKey("m.room.name", "") && name !== undefined) || (k === stateKey("m.room.topic", "") && topic !== undefined)) continue;
    await send(e.type, e.stateKey, e.content);
  }
  if (name !== undefined) await send("m.room.name", "", { name });
  if (topic !== undefined) {
    // m.topic is a content block holding m.text representations (Matrix 1.15).
    await send("m.room.topic", "", { topic, "m.topic": { "m.text": [{ mimetype: "text/plain", body: topic }] } });
  }
  for (const invitee of invites) {
    const content = await memberContent(hs, invitee, "invite", isDirect === true ? { is_direct: true } : {});
    await sendInvite(hs, roomId, creator, invitee, content);
  }
  // A room made as another's successor (an upgrade by hand): the creator's rules for the old room carry over.
  const predecessor = (creationContent.predecessor as JsonObject | undefined)?.room_id;
  if (typeof predecessor === "string") await hs.push.rules.copyRoomRules(creator, predecessor, roomId);
  return roomId;
}
