/**
 * JSON text made once and written verbatim into many answers. A /sync
 * after a reconnection storm carries the presence of thousands of people
 * to thousands of people: encoding each entry once and splicing the text
 * costs a fraction of serialising the same objects again for every answer.
 */
export class JsonText {
  constructor(readonly text: string) {}

  /** Plain JSON.stringify still writes the right value, only slower. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** JSON.stringify of an object whose members may be JsonText, written as they are. */
export function stringifyObject(value: Readonly<Record<string, unknown>>): string {
  let out = "";
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (member === undefined) continue;
    const text = member instanceof JsonText ? member.text : JSON.stringify(member);
    out += `${out ? "," : ""}${JSON.stringify(key)}:${text}`;
  }
  return `{${out}}`;
}
