/** The relay's `--blobs` and `--s3-endpoint` options, checked (no AWS SDK here: config loads it not). */
import { WeftError } from "@weft/core";

/** Chunks in an S3-compatible bucket instead of the data directory. */
export interface BlobsConfig {
  kind: "s3";
  bucket: string;
  /** An S3-compatible endpoint (path-style addressing); absent: AWS S3 of `AWS_REGION`. */
  endpoint?: string;
}

/**
 * `--blobs` and `--s3-endpoint`: undefined for the data directory, or the bucket. The endpoint
 * may not carry credentials (argv is visible to every user: they come from the environment).
 * @throws WeftError INVALID_OPTIONS
 */
export function parseBlobs(
  blobs: string | undefined,
  endpoint: string | undefined,
): BlobsConfig | undefined {
  if (blobs === undefined || blobs === "disk") {
    if (endpoint !== undefined)
      throw new WeftError("INVALID_OPTIONS", "--s3-endpoint goes with --blobs s3://BUCKET");
    return undefined;
  }
  const bucket = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?$/.exec(blobs)?.[1];
  if (bucket === undefined)
    throw new WeftError(
      "INVALID_OPTIONS",
      "--blobs (WEFT_RELAY_BLOBS) is s3://BUCKET (a bucket name of 3 to 63 lower-case letters, digits, dots and dashes)",
    );
  if (endpoint === undefined) return { kind: "s3", bucket };
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || !["http:", "https:"].includes(url.protocol))
    throw new WeftError(
      "INVALID_OPTIONS",
      "--s3-endpoint (WEFT_RELAY_S3_ENDPOINT) is an http(s) URL",
    );
  if (url.username !== "" || url.password !== "")
    throw new WeftError(
      "INVALID_OPTIONS",
      "--s3-endpoint must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
  return { kind: "s3", bucket, endpoint: url.href.replace(/\/$/, "") };
}
