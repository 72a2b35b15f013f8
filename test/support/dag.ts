/**
 * A room DAG builder for state resolution tests.
 *
 * A `Branch` is a line of history: its current state map and its head. Each
 * `send` creates an event whose auth_events are chosen from the branch state
 * by the auth-events selection (so scenarios read like real rooms), checks
 * it against that state (so a scenario cannot accidentally build an event
 * no server would accept), and advances the branch. `fork` copies a branch;
 * the branches' states are then the state sets to resolve.
 *
 * The builder follows the version's shape: from v12 the create event is not
 * cited and the room id is derived from the create event's id; the creators
 * are not listed in power levels. Event ids are given, timestamps increase
 * unless given.
 */
import { authEventTypes, checkAuth } from "../../src/room/auth.js";
import { stateKey, type EventLookup, type JsonObject, type RoomEvent, type StateMap } from "../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../src/room/versions.js";
import { makeEvent } from "./events.js";

export const ALICE = "@alice:a.org";
export const BOB = "@bob:b.org";
export const CAROL = "@carol:c.org";
export const DAVE = "@dave:d.org";

export function rulesFor(version: string): RoomVersionRules {
  const r = getRoomVersion(version);
  if (r === undefined) throw new Error(`unknown room version ${version}`);
  return r;
}

export interface Branch {
  readonly state: Map<string, string>;
  head: string[];
}

export interface SendSpec {
  id: string;
  type: string;
  sender: string;
  stateKey?: string;
  content?: JsonObject;
  ts?: number;
  /** Defaults to the branch head. */
  prev?: string[];
  /** Skip the auth check (to build an event only some other state allows). */
  unchecked?: boolean;
  /** Use these auth events instead of selecting from the branch state. */
  auth?: string[];
}

export class RoomDag {
  readonly events = new Map<string, RoomEvent>();
  readonly lookup: EventLookup = (id) => this.events.get(id);
  readonly roomId: string;
  private clock = 1_000;

  constructor(
    readonly rules: RoomVersionRules,
    readonly createId = "$create",
  ) {
    this.roomId = rules.roomIdFromCreateEvent ? "!" + createId.slice(1) : "!room:a.org";
  }

  /** A fresh branch with nothing in it (for `send`ing the create event). */
  empty(): Branch {
    return { state: new Map(), head: [] };
  }

  fork(b: Branch): Branch {
    return { state: new Map(b.state), head: [...b.head] };
  }

  get(id: string): RoomEvent {
    const e = this.events.get(id);
    if (e === undefined) throw new Error(`no event ${id}`);
    return e;
  }

  /** A view of `state` as the auth rules want it (create included even in v12). */
  stateLookup(state: StateMap) {
    return (type: string, key: string): RoomEvent | undefined => {
      const id = state.get(stateKey(type, key));
      return id === undefined ? undefined : this.events.get(id);
    };
  }

  send(b: Branch, spec: SendSpec): RoomEvent {
    const prev = spec.prev ?? b.head;
    const depth = prev.reduce((d, id) => Math.max(d, this.get(id).depth), 0) + 1;
    const content = spec.content ?? {};
    const auth =
      spec.auth ??
      authEventTypes(spec.type, spec.stateKey, spec.sender, content, this.rules)
        .map(([t, k]) => b.state.get(stateKey(t, k)))
        .filter((id): id is string => id !== undefined);
    const isCreate = spec.type === "m.room.create";
    const ev = makeEvent({
      id: spec.id,
      type: spec.type,
      sender: spec.sender,
      stateKey: spec.stateKey,
      content,
      prev,
      auth: isCreate ? [] : auth,
      depth,
      ts: spec.ts ?? (this.clock += 10),
      roomId: this.roomId,
      roomVersion: this.rules.id,
    });
    // From v12 the create event carries no room_id: the room id is derived from it.
    if (isCreate && this.rules.roomIdFromCreateEvent) delete ev.pdu.room_id;
    if (this.events.has(ev.eventId)) throw new Error(`duplicate event id ${ev.eventId}`);
    if (spec.unchecked !== true) checkAuth(ev, this.stateLookup(b.state), this.rules);
    this.events.set(ev.eventId, ev);
    if (ev.stateKey !== undefined) b.state.set(stateKey(ev.type, ev.stateKey), ev.eventId);
    b.head = [ev.eventId];
    return ev;
  }

  state(b: Branch, id: string, type: string, key: string, sender: string, content: JsonObject, extra: Partial<SendSpec> = {}): RoomEvent {
    return this.send(b, { id, type, stateKey: key, sender, content, ...extra });
  }

  member(b: Branch, id: string, target: string, membership: string, sender = target, extra: Partial<SendSpec> = {}): RoomEvent {
    return this.state(b, id, "m.room.member", target, sender, { membership }, extra);
  }

  powerLevels(b: Branch, id: string, sender: string, users: Record<string, number>, extra: Partial<SendSpec> = {}): RoomEvent {
    return this.state(b, id, "m.room.power_levels", "", sender, { users }, extra);
  }

  joinRules(b: Branch, id: string, sender: string, joinRule: string, extra: Partial<SendSpec> = {}): RoomEvent {
    return this.state(b, id, "m.room.join_rules", "", sender, { join_rule: joinRule }, extra);
  }

  topic(b: Branch, id: string, sender: string, topic: string, extra: Partial<SendSpec> = {}): RoomEvent {
    return this.state(b, id, "m.room.topic", "", sender, { topic }, extra);
  }

  /** The creator's level as power levels may list it: v12 creators may not be listed. */
  creatorEntry(level = 100): Record<string, number> {
    return this.rules.privilegedCreators ? {} : { [ALICE]: level };
  }

  /**
   * The usual start of a room: Alice creates it, joins, sets power levels
   * (`users`, plus herself at 100 before v12) and a public join rule.
   * Ids: $create, $alice-join, $pl0, $jr0.
   */
  start(users: Record<string, number> = {}, joinRule = "public"): Branch {
    const b = this.empty();
    const content: JsonObject = { room_version: this.rules.id };
    if (!this.rules.creatorIsSender) content.creator = ALICE;
    this.send(b, { id: this.createId, type: "m.room.create", stateKey: "", sender: ALICE, content });
    this.member(b, "$alice-join", ALICE, "join");
    this.powerLevels(b, "$pl0", ALICE, { ...this.creatorEntry(), ...users });
    this.joinRules(b, "$jr0", ALICE, joinRule);
    return b;
  }
}

/** A state map's entries by type/state_key, for readable assertions. */
export function stateIds(state: StateMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, id] of state) out[k.replace("\u0000", "|")] = id;
  return out;
}
