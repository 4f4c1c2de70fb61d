/**
 * Reversible id encoding for subject tokens and KV keys (DESIGN.md principle 14): ids may contain dots, spaces or
 * wildcards. Every character outside `[A-Za-z0-9_-]` becomes `=XX` per UTF-8 byte; `=` itself is encoded too, so the
 * mapping is one-to-one and the result is a valid subject token and KV key.
 */
export function encodeId(id: string): string {
  if (id.length === 0) throw new RangeError('empty id');
  let out = '';
  for (const ch of id) {
    if (/[A-Za-z0-9_-]/.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) out += '=' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Inverse of {@link encodeId}. */
export function decodeId(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i]!;
    if (c === '=') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** {@link decodeId} of one subject token or KV key segment, or undefined when it is not one (empty, dotted, bad). */
export function tryDecodeId(token: string): string | undefined {
  try {
    return token.includes('.') || token.length === 0 ? undefined : decodeId(token);
  } catch {
    return undefined;
  }
}
