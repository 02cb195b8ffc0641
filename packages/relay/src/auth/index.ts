/** The relay's authentication building blocks: tokens, password hashing off-thread, rate limits. */
export { AuthError, type AuthFailure } from "./errors.js";
export {
  signAccessToken,
  verifyAccessToken,
  MAX_TOKEN_LENGTH,
  type AccessClaims,
  type SignAccessTokenOptions,
} from "./jwt.js";
export { newRefreshToken, hashRefreshToken, newFamilyId, type NewRefreshToken } from "./refresh.js";
export { RevokedFamilies } from "./revoked-families.js";
export { PasswordHasher, type PasswordHasherOptions } from "./password-pool.js";
export { LoginGate, DEFAULT_LOGIN_LIMITS, type LoginLimits } from "./login-gate.js";
export { TokenBucket, type TokenBucketOptions, type TakeResult } from "./rate-limit.js";
