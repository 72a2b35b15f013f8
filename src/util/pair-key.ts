/** One map key for a pair of ids (user and device, say); NUL appears in neither. */
export function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}
