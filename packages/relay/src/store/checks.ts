/** Light checks of the arguments of the relay's MetaStore, and its NOT_FOUND error. */
import { WeftError } from "@weft/core";
import type { DeviceId, FolderId } from "@weft/crypto";
import { MAX_EPOCH, isDeviceId, isFolderId } from "@weft/crypto";
import type { Role } from "./meta-store.js";

// The server validates protocol input before it reaches the store; these checks only keep a bug
// there from writing a value of the wrong kind into the file.

function invalid(message: string): WeftError {
  return new WeftError("INVALID_ARGUMENT", message);
}

/** @throws WeftError NOT_FOUND naming what is missing (never its id) */
export function notFound(what: string): WeftError {
  return new WeftError("NOT_FOUND", `no such ${what}`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a non-empty string */
export function checkText(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value === "")
    throw invalid(`${what} must be a non-empty string`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is an object */
export function checkObject(value: unknown, what: string): asserts value is object {
  if (typeof value !== "object" || value === null) throw invalid(`${what} must be an object`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a folder id */
export function checkFolderId(value: unknown): asserts value is FolderId {
  if (!isFolderId(value)) throw invalid("folderId must be a folder id");
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a canonical device id */
export function checkDeviceId(value: unknown): asserts value is DeviceId {
  if (!isDeviceId(value)) throw invalid("deviceId must be a canonical device id");
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a non-empty Uint8Array */
export function checkBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0)
    throw invalid(`${what} must be a non-empty Uint8Array`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a safe integer ≥ 0 */
export function checkSeq(value: unknown, what: string): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw invalid(`${what} must be a non-negative integer`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a safe integer ≥ 1 */
export function checkCount(value: unknown, what: string): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 1)
    throw invalid(`${what} must be a positive integer`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a safe integer (milliseconds) */
export function checkTime(value: unknown, what: string): asserts value is number {
  if (!Number.isSafeInteger(value)) throw invalid(`${what} must be an integer (milliseconds)`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is a key epoch (a u32) */
export function checkEpoch(value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > MAX_EPOCH)
    throw invalid(`epoch must be an integer from 0 to ${MAX_EPOCH}`);
}

/** @throws WeftError INVALID_ARGUMENT unless `value` is one of `allowed` */
export function checkRole(value: unknown, allowed: readonly Role[]): asserts value is Role {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
    throw invalid(`role must be one of ${allowed.join(", ")}`);
}

/** @throws WeftError INVALID_ARGUMENT if `seq` is beyond the folder's head */
export function checkNotBeyondHead(seq: number, what: string, headSeq: number): void {
  if (seq > headSeq) throw invalid(`${what} ${seq} is beyond the folder's head ${headSeq}`);
}

/** @throws WeftError INVALID_ARGUMENT unless `epoch` is greater than `current` */
export function checkEpochIncreases(epoch: number, current: number): void {
  if (epoch <= current)
    throw invalid(`epoch ${epoch} is not greater than the folder's epoch ${current}`);
}
