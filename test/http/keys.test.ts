// Client keys: addresses grouped as one client (IPv6 by /64, IPv4-mapped as IPv4), and keys too
// long to keep replaced by a hash.

import { ipKey } from 'bucketflow/http';
import { describe, expect, it } from 'vitest';
import { capKey, fnv1a64 } from '../../src/http/keys.js';

describe('ipKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:0201', '192.0.2.1'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002::ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
    ['[2001:db8::1]', '2001:db8::/64'],
    ['::1', '::/64'],
    ['::', '::/64'],
    ['::192.0.2.1', '::/64'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::/64'],
    ['not an address', 'not an address'],
    ['1::2::3', '1::2::3'],
    ['2001:db8::1::', '2001:db8::1::'],
    ['1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8:9'],
    ['::ffff:300.1.1.1', '::ffff:300.1.1.1'],
  ])('%s -> %s', (address, key) => {
    expect(ipKey(address)).toBe(key);
  });

  it('every address of one /64 is one client; the next /64 is another', () => {
    const keys = ['2001:db8:0:1::1', '2001:db8:0:1::2', '2001:db8:0:1:ffff:ffff:ffff:ffff'].map((a) => ipKey(a));
    expect(new Set(keys).size).toBe(1);
    expect(ipKey('2001:db8:0:2::1')).not.toBe(keys[0]);
  });

  it('groups by another prefix length when asked', () => {
    expect(ipKey('2001:db8:1:2:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(ipKey('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1::/56');
    expect(ipKey('2001:db8:1:2ff:3:4:5:6', 56)).toBe('2001:db8:1:200::/56');
    expect(ipKey('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6/128');
    expect(() => ipKey('::1', 0)).toThrow(/ipv6Subnet must be an integer from 1 to 128, got 0/);
    expect(() => ipKey('::1', 64.5)).toThrow(RangeError);
    expect(() => ipKey(1 as never)).toThrow(/address must be a string, got 1/);
  });
});

describe('capKey', () => {
  it('keeps keys of up to 256 characters as they are', () => {
    const k = 'x'.repeat(256);
    expect(capKey(k)).toBe(k);
  });

  it('replaces longer keys by a hash: short, stable, and different for different keys', () => {
    const big = 'k'.repeat(1 << 20);
    const a = capKey(big);
    expect(a.length).toBeLessThanOrEqual(256);
    expect(a).toMatch(/^fnv1a64:[0-9a-f]{16}:1048576$/);
    expect(capKey(big)).toBe(a);
    expect(capKey(`${big.slice(1)}j`)).not.toBe(a);
  });
});

describe('fnv1a64', () => {
  /** The definition, with BigInt, over TextEncoder's bytes. */
  function reference(s: string): string {
    let h = 0xcbf29ce484222325n;
    for (const b of new TextEncoder().encode(s)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    return h.toString(16).padStart(16, '0');
  }

  it.each([
    ['', 'cbf29ce484222325'],
    ['a', 'af63dc4c8601ec8c'],
    ['foobar', '85944171f73967e8'],
  ])('%j is %s (published test vectors)', (input, hash) => {
    expect(fnv1a64(input)).toBe(hash);
  });

  it('hashes the UTF-8 bytes, as TextEncoder writes them (lone surrogates as U+FFFD)', () => {
    for (const s of ['héllo', '日本語', '😀 emoji', 'lone \ud800 high', 'lone \udc00 low', 'end \ud83d', 'x'.repeat(1000) + 'ü']) {
      expect(fnv1a64(s)).toBe(reference(s));
    }
  });
});
