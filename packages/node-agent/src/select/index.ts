/** Selective sync: which paths of a folder this device syncs, chosen per device and kept under WEFT_HOME. */
export { SELECTION_FILE, Selection, type SelectionSpec } from "./selection.js";
