import { describe, expect, it } from "vitest";
import { bitsFor, PackedInts } from "../../server/attribution/packed-ints.ts";
import { WordArray } from "../../server/attribution/word-array.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

describe("packed integer arrays", () => {
  it("reads back every value at every width, across word boundaries", () => {
    const rand = seededRandom(5);
    for (const width of [1, 5, 17, 18, 25, 28, 31]) {
      const values = Uint32Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? 2 ** width - 1 : Math.floor(rand() * 2 ** width)));
      const p = new PackedInts(values, width);
      expect(p.width).toBe(width);
      expect(Array.from({ length: values.length }, (_, i) => p.get(i))).toEqual(Array.from(values));
      expect(p.subarray(3, 40)).toEqual(values.subarray(3, 40));
      expect(p.subarray(-5)).toEqual(values.subarray(-5));
      expect(p.byteLength).toBeLessThanOrEqual(Math.ceil(values.length / 32) * width * 4 + 4);
    }
  });

  it("picks the narrowest width and refuses values that do not fit", () => {
    expect(bitsFor(0)).toBe(1);
    expect(bitsFor(0x3ffff)).toBe(18);
    expect(bitsFor(2 ** 28 - 1)).toBe(28);
    expect(bitsFor(2 ** 28)).toBe(29);
    expect(new PackedInts([0, 5, 1000]).width).toBe(10);
    expect(() => new PackedInts([8], 3)).toThrowError(RangeError);
    expect(() => bitsFor(2 ** 31)).toThrowError(RangeError);
  });
});

describe("word ids in 16-bit slots", () => {
  it("gives back every id, the ones above the slot's range through the side table", () => {
    const rand = seededRandom(16);
    const maxId = 200_000;
    const ids = Uint32Array.from({ length: 50_000 }, () =>
      rand() < 0.05 ? 65_000 + Math.floor(rand() * (maxId - 64_999)) : Math.floor(rand() * 65_535),
    );
    ids[0] = maxId;
    ids[ids.length - 1] = 65_535;
    const a = WordArray.fromPieces(ids.length, maxId, [ids.subarray(0, 777), ids.subarray(777)]);
    expect(a.width).toBe(16);
    expect(a.subarray(0)).toEqual(ids);
    for (let i = 0; i < ids.length; i += 97) expect(a.get(i)).toBe(ids[i]);
    expect(a.byteLength).toBeLessThan(ids.length * 2 + ids.length * 0.1 * 8 + 1024);
    const small = WordArray.from(Uint32Array.of(3, 0, 9), 9);
    expect(small.width).toBe(4);
    expect(small.subarray(0)).toEqual(Uint32Array.of(3, 0, 9));
    expect(() => WordArray.from(Uint32Array.of(70_000), 69_999)).toThrow(RangeError);
  });
});
