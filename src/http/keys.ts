// Client keys: the client's address as a rate-limit key, and the length cap every key passes
// through. Pure JavaScript, no Node built-ins: the fetch and Hono adapters run on Bun, Deno and
// workers as well.

import * as check from '../validate.js';

/** Keys longer than this (UTF-16 code units) are replaced by a hash of them. */
export const MAX_KEY_LENGTH = 256;

/**
 * The rate-limit key of a client address: an IPv4 address as it is; an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`) as the IPv4 address it maps; any other IPv6 address as its network of
 * `ipv6Subnet` bits (default 64, written `2001:db8:1:2::/64`), because one subscriber usually
 * holds a whole /64 and can pick a new address in it for every request. A zone (`%eth0`) is
 * dropped. Text that is not an IP address is returned unchanged.
 *
 * @example
 * ipKey('2001:db8:1:2:aaaa::1')   // '2001:db8:1:2::/64'
 * ipKey('::ffff:192.0.2.1')       // '192.0.2.1'
 */
export function ipKey(address: string, ipv6Subnet = 64): string {
  if (typeof address !== 'string') throw new TypeError(`address must be a string, got ${check.show(address)}`);
  checkSubnet(ipv6Subnet);
  return groupAddress(address, ipv6Subnet);
}

/** Checks an `ipv6Subnet` option: an integer prefix length in [1, 128]. */
export function checkSubnet(value: unknown, name = 'ipv6Subnet'): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number (a prefix length in bits), got ${check.show(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > 128) throw new RangeError(`${name} must be an integer from 1 to 128, got ${check.show(value)}`);
  return value;
}

/** {@link ipKey} without the argument checks (the adapters check `ipv6Subnet` once). */
export function groupAddress(address: string, subnet: number): string {
  if (!address.includes(':')) return address;
  const groups = parseIPv6(address);
  if (groups === undefined) return address;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  for (let i = 0; i < 8; i++) {
    const keep = Math.min(16, Math.max(0, subnet - 16 * i));
    groups[i] = groups[i]! & (0xffff << (16 - keep)) & 0xffff;
  }
  return `${formatIPv6(groups)}/${subnet}`;
}

/** The eight 16-bit groups of an IPv6 address in text form, or `undefined` if it is not one. */
function parseIPv6(text: string): number[] | undefined {
  const zone = text.indexOf('%');
  let s = zone >= 0 ? text.slice(0, zone) : text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  let tail: number[] = [];
  // A dotted IPv4 address may stand for the last two groups (::ffff:192.0.2.1, ::192.0.2.1).
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const groups: number[] = [];
  for (const part of [...head, ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
  }
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  for (const part of head) groups.push(parseInt(part, 16));
  for (let i = given; i < 8; i++) groups.push(0);
  for (const part of rest) groups.push(parseInt(part, 16));
  groups.push(...tail);
  return groups;
}

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out.push(Number(p));
  }
  return out;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
function formatIPv6(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/**
 * `key` itself if it is at most {@link MAX_KEY_LENGTH} long, else `fnv1a64:` and a hash of it,
 * so a huge header used as a key never becomes a huge map entry or Redis key.
 */
export function capKey(key: string): string {
  return key.length <= MAX_KEY_LENGTH ? key : `fnv1a64:${fnv1a64(key)}:${key.length}`;
}

/**
 * FNV-1a, 64 bits, over the UTF-8 bytes of `s` (a lone surrogate counts as U+FFFD, as
 * `TextEncoder` writes it), as 16 hex digits. Not a cryptographic hash: it spreads keys, it does
 * not hide them. Computed in four 16-bit limbs, so it needs neither BigInt nor a Node built-in.
 */
export function fnv1a64(s: string): string {
  // Offset basis 0xcbf29ce484222325, limbs low to high.
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  const step = (byte: number): void => {
    h0 ^= byte;
    // Multiply by the FNV prime 0x100000001b3 = 2^40 + 0x1b3, modulo 2^64.
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3;
    const t2 = h2 * 0x1b3 + (h0 << 8);
    const t3 = h3 * 0x1b3 + (h1 << 8);
    h0 = t0 & 0xffff;
    const c1 = t1 + (t0 >>> 16);
    h1 = c1 & 0xffff;
    const c2 = t2 + Math.floor(c1 / 0x10000);
    h2 = c2 & 0xffff;
    h3 = (t3 + Math.floor(c2 / 0x10000)) & 0xffff;
  };
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      step(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      step(0xc0 | (c >> 6));
    } else if (c < 0x10000) {
      step(0xe0 | (c >> 12));
      step(0x80 | ((c >> 6) & 0x3f));
    } else {
      step(0xf0 | (c >> 18));
      step(0x80 | ((c >> 12) & 0x3f));
      step(0x80 | ((c >> 6) & 0x3f));
    }
    step(0x80 | (c & 0x3f));
  }
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  return hex(h3) + hex(h2) + hex(h1) + hex(h0);
}
