/**
 * CRC-32 (IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF, final
 * xor 0xFFFFFFFF), table-driven, incremental. `crc32(bytes("123456789")) === 0xCBF43926`.
 *
 * Used by the memory store ({@link ./store.ts}) to detect torn and corrupt records. CRC-32 detects every
 * burst error up to 32 bits and any odd number of flipped bits; a random corruption passes with
 * probability 2^-32.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC-32 over `bytes`. Start with `crc = 0` (the default); feed chunks in order:
 * `crc32(b, crc32(a)) === crc32(concat(a, b))`.
 * @param bytes the data (any view; only the bytes it covers are read).
 * @param crc the CRC-32 of the bytes before these (0 for none).
 * @returns the CRC-32 as an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of the raw bytes of a typed array (platform byte order), continuing from `crc`. */
export function crc32Of(a: ArrayBufferView, crc = 0): number {
  return crc32(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), crc);
}
