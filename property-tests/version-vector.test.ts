/** Version vectors form a join-semilattice, and `compare` is the partial order of that lattice. */
import type { DeviceId } from "@weft/crypto";
import fc from "fast-check";
import { describe, test } from "vitest";
import { VersionVector } from "@weft/core";
import { propertyParams } from "./config.js";

const devices = ["AAAA", "BBBB", "CCCC", "DDDD", "EEEE"];
const arbVector = fc
  .array(fc.tuple(fc.constantFrom(...devices), fc.nat(6)), { maxLength: 6 })
  .map((pairs) => VersionVector.from(new Map(pairs)));

const le = (a: VersionVector, b: VersionVector): boolean => {
  const o = a.compare(b);
  return o === "lesser" || o === "equal";
};
const mirror = {
  equal: "equal",
  greater: "lesser",
  lesser: "greater",
  "concurrent-greater": "concurrent-lesser",
  "concurrent-lesser": "concurrent-greater",
} as const;

describe("version vector properties", () => {
  test("compare is antisymmetric: b.compare(a) mirrors a.compare(b)", () => {
    fc.assert(
      fc.property(arbVector, arbVector, (a, b) => b.compare(a) === mirror[a.compare(b)]),
      propertyParams(),
    );
  });

  test("compare is a partial order (reflexive, antisymmetric, transitive)", () => {
    fc.assert(
      fc.property(arbVector, arbVector, arbVector, (a, b, c) => {
        if (a.compare(a) !== "equal") return false;
        if (le(a, b) && le(b, a) && !a.equals(b)) return false;
        if (le(a, b) && le(b, c) && !le(a, c)) return false;
        return true;
      }),
      propertyParams(),
    );
  });

  test("merge is commutative, associative and idempotent", () => {
    fc.assert(
      fc.property(
        arbVector,
        arbVector,
        arbVector,
        (a, b, c) =>
          a.merge(b).equals(b.merge(a)) &&
          a
            .merge(b)
            .merge(c)
            .equals(a.merge(b.merge(c))) &&
          a.merge(a).equals(a),
      ),
      propertyParams(),
    );
  });

  test("compare agrees with merge: a ≤ b exactly when a ⊔ b = b, and a ⊔ b bounds both", () => {
    fc.assert(
      fc.property(arbVector, arbVector, (a, b) => {
        const m = a.merge(b);
        return le(a, b) === m.equals(b) && le(a, m) && le(b, m);
      }),
      propertyParams(),
    );
  });

  test("increment moves strictly up; encoding round-trips", () => {
    fc.assert(
      fc.property(arbVector, fc.constantFrom(...devices), (a, d) => {
        const next = a.increment(d as DeviceId);
        return (
          a.compare(next) === "lesser" &&
          VersionVector.decode(a.encode()).equals(a) &&
          VersionVector.fromJSON(a.toJSON()).equals(a)
        );
      }),
      propertyParams(),
    );
  });
});
