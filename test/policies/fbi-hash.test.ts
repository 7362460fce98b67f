// fbi_hash, furc_hash and MurmurHash64A against published vectors and values from the reference implementations.
import { describe, expect, test } from 'bun:test';
import {
  compareU64,
  FBI_MODULUS,
  fbiHash,
  fbiHashHex,
  fbiHashParts,
  furcHash,
  murmurHash64A,
} from '../../src/policies/fbi-hash.ts';

/**
 * mcrouter's golden furc_hash values: facebook/mcrouter `mcrouter/lib/fbi/test/hash_test.cpp`,
 * `kGoldenValues`, commit a651a844 (2026-04-20). Entries are [pool size m, expected slot].
 */
const GOLDEN: [string, [number, number][]][] = [
  ['key0', [
    [1, 0], [2, 0], [3, 0], [5, 4], [7, 5], [10, 7], [16, 14], [50, 22], [100, 22], [500, 413], [1000, 950],
    [5000, 3375], [10000, 3375], [100000, 59045], [1000000, 500854], [8388608, 4701525], [16777216, 10218333],
    [1073741824, 856543823], [4294967295, 2635611118],
  ]],
  ['key1', [
    [1, 0], [2, 0], [3, 2], [5, 2], [7, 2], [10, 2], [16, 2], [50, 2], [100, 2], [500, 2], [1000, 808],
    [5000, 808], [10000, 808], [100000, 24368], [1000000, 768680], [8388608, 7205857], [16777216, 7205857],
    [1073741824, 144851818], [4294967295, 1919030847],
  ]],
  ['key2', [
    [1, 0], [2, 0], [3, 0], [5, 4], [7, 4], [10, 4], [16, 14], [50, 40], [100, 40], [500, 279], [1000, 794],
    [5000, 3741], [10000, 3741], [100000, 99468], [1000000, 99468], [8388608, 8033017], [16777216, 8033017],
    [1073741824, 720979435], [4294967295, 720979435],
  ]],
  ['key3', [
    [1, 0], [2, 1], [3, 1], [5, 1], [7, 5], [10, 5], [16, 5], [50, 5], [100, 73], [500, 214], [1000, 214],
    [5000, 1118], [10000, 1118], [100000, 98344], [1000000, 567453],
  ]],
  ['key4', [
    [1, 0], [2, 0], [3, 2], [5, 2], [7, 2], [10, 8], [16, 10], [50, 47], [100, 47], [500, 101], [1000, 878],
    [5000, 878], [10000, 878], [100000, 19896], [1000000, 187582],
  ]],
  ['someKey_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', [
    [1, 0], [2, 0], [3, 0], [5, 4], [7, 4], [10, 8], [16, 8], [50, 18], [100, 18], [500, 18], [1000, 964],
    [5000, 1334], [10000, 5716], [100000, 54971], [1000000, 580644],
  ]],
  ['short', [
    [1, 0], [2, 1], [3, 2], [5, 4], [7, 6], [10, 6], [16, 12], [50, 12], [100, 12], [500, 172], [1000, 569],
    [5000, 4565], [10000, 4565], [100000, 94116], [1000000, 826962], [8388608, 6473107], [16777216, 10975421],
    [1073741824, 304085075], [4294967295, 3727818566],
  ]],
  ['a', [
    [1, 0], [2, 1], [3, 1], [5, 4], [7, 4], [10, 4], [16, 13], [50, 34], [100, 34], [500, 34], [1000, 900],
    [5000, 1565], [10000, 1565], [100000, 55594], [1000000, 570739], [8388608, 7695180], [16777216, 11809035],
    [1073741824, 207565192], [4294967295, 2134617590],
  ]],
  ['ab', [
    [1, 0], [2, 1], [3, 2], [5, 2], [7, 2], [10, 2], [16, 2], [50, 35], [100, 35], [500, 429], [1000, 429],
    [5000, 4150], [10000, 9404], [100000, 13199], [1000000, 103282],
  ]],
  ['abc', [
    [1, 0], [2, 0], [3, 0], [5, 0], [7, 5], [10, 5], [16, 15], [50, 47], [100, 69], [500, 371], [1000, 985],
    [5000, 3019], [10000, 3019], [100000, 44962], [1000000, 391441],
  ]],
  ['mcrouter:pool:regional:0001', [
    [1, 0], [2, 0], [3, 2], [5, 3], [7, 3], [10, 3], [16, 13], [50, 27], [100, 52], [500, 493], [1000, 829],
    [5000, 4143], [10000, 7488], [100000, 36359], [1000000, 669957], [8388608, 6119431], [16777216, 13341220],
    [1073741824, 656478206], [4294967295, 3984053628],
  ]],
  ['mcrouter:pool:regional:0002', [
    [1, 0], [2, 1], [3, 2], [5, 4], [7, 5], [10, 5], [16, 13], [50, 13], [100, 13], [500, 405], [1000, 788],
    [5000, 788], [10000, 6708], [100000, 65904], [1000000, 589635],
  ]],
  ['user:12345:profile', [
    [1, 0], [2, 1], [3, 1], [5, 4], [7, 4], [10, 4], [16, 10], [50, 29], [100, 77], [500, 77], [1000, 712],
    [5000, 4344], [10000, 5119], [100000, 96279], [1000000, 368844],
  ]],
  ['user:67890:timeline', [
    [1, 0], [2, 0], [3, 0], [5, 0], [7, 5], [10, 7], [16, 15], [50, 15], [100, 73], [500, 104], [1000, 748],
    [5000, 3756], [10000, 6138], [100000, 86163], [1000000, 86163],
  ]],
  ['cache:item:999999', [
    [1, 0], [2, 1], [3, 2], [5, 2], [7, 2], [10, 2], [16, 2], [50, 17], [100, 17], [500, 184], [1000, 673],
    [5000, 3278], [10000, 5532], [100000, 72068], [1000000, 180793],
  ]],
  ['', [
    [1, 0], [2, 1], [3, 1], [5, 1], [7, 6], [10, 8], [16, 12], [50, 12], [100, 72], [500, 72], [1000, 72],
    [5000, 3031], [10000, 3031], [100000, 86003], [1000000, 407687],
  ]],
];

/** Same file, test `bulk_checksum`: acc = acc * 31 + furc_hash("k<i>", m) over i < 100,000, mod 2^32. */
const BULK_CHECKSUMS: [number, number][] = [
  [2, 1346413954], [3, 914505363], [5, 1517365794], [7, 4252552508], [10, 2894016351], [16, 2995729350],
  [50, 1717182892], [100, 2289223413], [500, 2400597860], [1000, 2251851331], [5000, 2711796627],
  [10000, 1328492545], [100000, 1053928120], [1000000, 209068971], [8388608, 2328588562],
  [16777216, 1406750828], [100000000, 55292389], [1073741824, 1798155495], [4294967295, 504907336],
];

/**
 * fbi_hash values printed by the Rust router's own code (vllm-project/router `consistent_hash.rs` at
 * e667ebb, `ConsistentHashPolicy::fbi_hash`, compiled with rustc) and, identically, by mcrouter's hash.c
 * (furc_hash + murmur_hash_64A) compiled with gcc. The furc slot is mcrouter's furc_hash(key, 2^23-1).
 */
const FBI_VECTORS: { key: string; murmur: string; slot: number; fbi: string }[] = [
  { key: '', murmur: '4d408de62dee109a', slot: 6173600, fbi: 'c0663e029346e424' },
  { key: 'a', murmur: '3d6961c699914c7b', slot: 7695180, fbi: '29d1ab12ec5fea11' },
  { key: 'ab', murmur: '606a53adc02273c7', slot: 1749570, fbi: 'a9478af8a98672d4' },
  { key: 'abcdefgh', murmur: 'eb598d6af4ac8ab4', slot: 6241930, fbi: '084c3506fc1ea190' },
  { key: 'abcdefghi', murmur: 'a1a067daf8191d25', slot: 738669, fbi: '8be43a973322adf7' },
  { key: 'test_session_123', murmur: '93405d12277f2de0', slot: 2200169, fbi: 'bcc9b06b6bade78a' },
  { key: 'http://worker1:8000:0', murmur: 'df986d2128ea1786', slot: 7552980, fbi: '0313aad40b6c33c4' },
  { key: 'http://worker1:8000:159', murmur: '8aa2881fef7c6df5', slot: 2767859, fbi: '4e1573f4c8238900' },
  { key: 'header:x-session-id:abc', murmur: 'f05bd12e382e9b7e', slot: 1770962, fbi: '543d9eea8d6f5317' },
  { key: 'session:consistent_test', murmur: '0fd5aca3ed25ea81', slot: 1144401, fbi: 'c93593641e90cb0a' },
  { key: 'request:', murmur: '8c010f980365af20', slot: 2268526, fbi: '13b2f1ae12a8b5ab' },
  { key: 'héllo 世界', murmur: '131230dd49d7cfa6', slot: 5815673, fbi: '42d996d8561d6978' },
  { key: 'user:alice', murmur: '2efaeaa910d1b5ee', slot: 7338526, fbi: 'ccb3ce7850815e85' },
  { key: 'x'.repeat(200), murmur: '', slot: -1, fbi: '626e7a2eaad58322' },
];

describe('MurmurHash64A', () => {
  test('passes the SMHasher verification test (0x1F0D3804, aappleby/smhasher main.cpp)', () => {
    // SMHasher: hash keys [0], [0,1], … [0..254] with seed 256-len, then hash the concatenated hashes.
    const key = new Uint8Array(256);
    const hashes = new Uint8Array(8 * 256);
    const view = new DataView(hashes.buffer);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      view.setBigUint64(8 * i, murmurHash64A(key.subarray(0, i), 256 - i), true);
    }
    expect(Number(murmurHash64A(hashes, 0) & 0xffffffffn)).toBe(0x1f0d3804);
  });

  test('matches mcrouter murmur_hash_64A with the furc seed', () => {
    for (const v of FBI_VECTORS.filter((v) => v.murmur !== '')) {
      expect(murmurHash64A(v.key).toString(16).padStart(16, '0')).toBe(v.murmur);
    }
  });

  test('hashes a string as its UTF-8 bytes', () => {
    for (const key of ['', 'plain ascii key', 'héllo 世界', '🙂 emoji', 'x'.repeat(67)]) {
      expect(murmurHash64A(key, 12345)).toBe(murmurHash64A(new TextEncoder().encode(key), 12345));
    }
  });
});

describe('furcHash', () => {
  test('matches mcrouter golden values', () => {
    for (const [key, cases] of GOLDEN) {
      for (const [m, expected] of cases) expect([key, m, furcHash(key, m)]).toEqual([key, m, expected]);
    }
  });

  test('matches mcrouter bulk checksums over 100,000 keys', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}`);
    for (const [m, expected] of BULK_CHECKSUMS) {
      let acc = 0;
      for (const key of keys) acc = (Math.imul(acc, 31) + furcHash(key, m)) >>> 0;
      expect([m, acc]).toEqual([m, expected]);
    }
  });

  test('matches mcrouter WeightedCh3HashFunc unit-weight values (WeightedCh3HashFuncTest.cpp)', () => {
    expect(furcHash('sample', 100)).toBe(97);
    expect(furcHash('', 100)).toBe(72);
    expect(furcHash('sample', 1)).toBe(0);
    expect(furcHash('', 1 << 23)).toBe(6173600);
    expect(furcHash('sample', 1 << 23)).toBe(5167780);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => (i - 128) & 0xff);
    expect(furcHash(bytes, 99999)).toBe(31015);
    expect(furcHash(bytes.reverse(), 99999)).toBe(67101);
    // Ch3 over "0".."999" with 3 servers and "0".."9999" with 10 servers.
    const counts = (n: number, keys: number): number[] => {
      const out = new Array<number>(n).fill(0);
      for (let i = 0; i < keys; i++) out[furcHash(String(i), n)]! += 1;
      return out;
    };
    expect(counts(3, 1000)).toEqual([307, 342, 351]);
    expect(counts(10, 10000)).toEqual([995, 955, 1046, 968, 1032, 972, 1016, 1038, 1010, 968]);
  });

  test('stays in range and moves keys only onto new slots as the pool grows', () => {
    for (let i = 0; i < 2000; i++) {
      const key = `cons_${i}`;
      let previous = furcHash(key, 1);
      expect(previous).toBe(0);
      for (let m = 2; m <= 64; m++) {
        const slot = furcHash(key, m);
        expect(slot).toBeLessThan(m);
        if (slot !== previous) expect(slot).toBe(m - 1);
        previous = slot;
      }
    }
  });

  test('rejects a pool size that is not an unsigned 32-bit integer', () => {
    expect(() => furcHash('k', -1)).toThrow(RangeError);
    expect(() => furcHash('k', 2 ** 32)).toThrow(RangeError);
    expect(() => furcHash('k', 1.5)).toThrow(RangeError);
  });
});

describe('fbiHash', () => {
  test('matches the Rust router and mcrouter on reference keys', () => {
    for (const v of FBI_VECTORS) {
      if (v.slot >= 0) expect(furcHash(v.key, FBI_MODULUS)).toBe(v.slot);
      expect(fbiHashHex(v.key)).toBe(v.fbi);
      expect(fbiHash(v.key)).toBe(BigInt(`0x${v.fbi}`));
    }
  });

  test('is deterministic and agrees across its forms', () => {
    for (let i = 0; i < 200; i++) {
      const key = `session-${i}`;
      const parts = fbiHashParts(key);
      expect(fbiHashParts(key)).toEqual(parts);
      expect(fbiHash(key)).toBe((BigInt(parts.hi) << 32n) | BigInt(parts.lo));
      expect(fbiHashHex(key)).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  test('compareU64 orders as unsigned 64-bit integers', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
    const byParts = [...keys].sort((a, b) => compareU64(fbiHashParts(a), fbiHashParts(b)));
    const byBigInt = [...keys].sort((a, b) => {
      const x = fbiHash(a);
      const y = fbiHash(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    expect(byParts).toEqual(byBigInt);
  });
});
