import { Packr, isNativeAccelerationEnabled } from 'msgpackr';

/**
 * MessagePack codec for every payload on the bus: plain maps only, no record structures, so MES and edge clients
 * in any language can read them (DESIGN.md principle 14).
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  int64AsType: 'number',
  // Plain maps like JSON: a property whose value is undefined is left out; a stray undefined elsewhere is nil.
  skipValues: [undefined],
  encodeUndefinedAsNil: true,
} as ConstructorParameters<typeof Packr>[0]);

/** Encodes a plain value as MessagePack. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes MessagePack; throws on malformed input (callers dead-letter it). */
export function decode(data: Uint8Array): unknown {
  return packr.unpack(data);
}

/** True when msgpackr's native decoder loaded (FACTS.md: npm 11 skips its install script). */
export function nativeCodec(): boolean {
  return isNativeAccelerationEnabled;
}
