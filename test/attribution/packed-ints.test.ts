import { describe, expect, it } from "vitest";
import { bitsFor, PackedInts } from "../../server/attribution/packed-ints.ts";
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
