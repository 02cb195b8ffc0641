/** The data model's building blocks: version vectors, hybrid logical clocks, paths and names, the varint byte codec. */
export * from "./version-vector.js";
export * from "./hlc.js";
export * from "./path.js";
export * from "./varint.js";
