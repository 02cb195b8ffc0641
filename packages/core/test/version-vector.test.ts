import type { DeviceId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import { WeftError } from "../src/errors.js";
import { VersionVector } from "../src/model/version-vector.js";

const A = "AAAA" as DeviceId;
const B = "BBBB" as DeviceId;
const C = "CCCC" as DeviceId;
const vv = (o: Record<string, number>): VersionVector => VersionVector.from(Object.entries(o));

describe("VersionVector", () => {
  test("compare has five outcomes and mirrors itself", () => {
    expect(vv({ A: 1 }).compare(vv({ A: 1 }))).toBe("equal");
    expect(vv({ A: 2 }).compare(vv({ A: 1 }))).toBe("greater");
    expect(vv({ A: 1 }).compare(vv({ A: 1, B: 1 }))).toBe("lesser");
    const x = vv({ A: 2, B: 1 });
    const y = vv({ A: 1, B: 3 });
    expect(x.compare(y)).toBe("concurrent-lesser"); // smaller counter total
    expect(y.compare(x)).toBe("concurrent-greater");
    expect(vv({ A: 1 }).compare(vv({ B: 1 }))).toBe("concurrent-lesser");
    expect(vv({ B: 1 }).compare(vv({ A: 1 }))).toBe("concurrent-greater");
  });

  test("increment, merge and zero counters", () => {
    const v = VersionVector.EMPTY.increment(A).increment(A).increment(B);
    expect(v.toJSON()).toEqual([
      ["AAAA", 2],
      ["BBBB", 1],
    ]);
    expect(v.increment(C, 100).get(C)).toBe(100);
    expect(v.merge(vv({ [B]: 5, [C]: 1 })).toJSON()).toEqual([
      ["AAAA", 2],
      ["BBBB", 5],
      ["CCCC", 1],
    ]);
    expect(vv({ A: 0, B: 1 }).equals(vv({ B: 1 }))).toBe(true);
  });

  test("binary encoding round-trips and is compact", () => {
    const v = vv({ [A]: 3, [B]: 2 ** 40, [C]: 1 });
    const bytes = v.encode();
    expect(VersionVector.decode(bytes).equals(v)).toBe(true);
    // count + three (length, id, counter) triples; 2^40 takes six varint bytes
    expect(bytes.length).toBe(1 + 3 * 5 + 1 + 6 + 1);
  });

  test("decoding refuses truncated, trailing, unsorted and oversized input", () => {
    const good = vv({ A: 1, B: 2 }).encode();
    expect(() => VersionVector.decode(good.subarray(0, good.length - 1))).toThrow(WeftError);
    expect(() => VersionVector.decode(new Uint8Array([...good, 0]))).toThrow(/trailing/);
    expect(() => VersionVector.decode(new Uint8Array([0xff, 0xff, 0xff, 0x7f]))).toThrow(
      /too many/,
    );
    expect(() =>
      VersionVector.fromJSON([
        ["B", 1],
        ["A", 1],
      ]),
    ).toThrow(/sorted/);
    expect(() => VersionVector.fromJSON([["A", -1]])).toThrow(/non-negative/);
    expect(() => VersionVector.fromJSON([["A", 1.5]])).toThrow(WeftError);
    expect(() => VersionVector.fromJSON("A:1")).toThrow(/array/);
  });
});
