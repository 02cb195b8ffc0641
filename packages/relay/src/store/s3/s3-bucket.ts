/**
 * S3Bucket: the few S3 operations the chunk store needs, on one bucket, over
 * `@aws-sdk/client-s3` (loaded when the first bucket is opened, so a relay on disk never loads
 * it). Every failure is a WeftError STORAGE naming the operation and the S3 error's name, never
 * a credential; "no such key" is an answer (undefined or false), not a failure.
 */
import { WeftError } from "@weft/core";
import type * as AwsS3 from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";

type Sdk = typeof AwsS3;

/** Where the bucket is and how to reach it. Credentials come from the AWS environment. */
export interface S3Location {
  bucket: string;
  /** An S3-compatible endpoint URL (MinIO, Garage, Ceph RGW…); path-style addressing is used. */
  endpoint?: string;
  /** The region to sign for (default `AWS_REGION`, else us-east-1). */
  region?: string;
  /** Explicit credentials (tests); by default the SDK reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** An object as a listing or a head request shows it. */
export interface S3ObjectInfo {
  key: string;
  size: number;
  /** When the object was written (the server's clock), in ms. */
  lastModified: number;
}

/** The metadata key (`x-amz-meta-touched`) holding a chunk's last-touched time, ms since 1970. */
const TOUCHED = "touched";

/** One bucket, and the operations on its objects. */
export class S3Bucket {
  private constructor(
    private readonly sdk: Sdk,
    private readonly client: S3Client,
    readonly name: string,
  ) {}

  /**
   * A client for `location`, with the bucket created if it does not exist yet (a HeadBucket
   * first: with a bucket that exists, no CreateBucket permission is needed).
   * @throws WeftError STORAGE when the bucket can neither be found nor created
   */
  static async open(location: S3Location): Promise<S3Bucket> {
    const sdk = await import("@aws-sdk/client-s3");
    const client = new sdk.S3Client({
      region: location.region ?? process.env["AWS_REGION"] ?? "us-east-1",
      ...(location.endpoint !== undefined
        ? { endpoint: location.endpoint, forcePathStyle: true }
        : {}),
      ...(location.credentials ? { credentials: location.credentials } : {}),
      // Checksums only where S3 requires them: S3-compatible servers differ in the newer ones.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    const bucket = new S3Bucket(sdk, client, location.bucket);
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: location.bucket }));
    } catch (error) {
      if (!isNotFound(error)) {
        client.destroy();
        throw s3Error("open the bucket", error);
      }
      try {
        await client.send(new sdk.CreateBucketCommand({ Bucket: location.bucket }));
      } catch (created) {
        client.destroy();
        throw s3Error("create the bucket", created);
      }
    }
    return bucket;
  }

  /** The object's size and last-touched time (its `touched` metadata, else LastModified). */
  async head(key: string): Promise<{ size: number; touched: number } | undefined> {
    try {
      const out = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.name, Key: key }),
      );
      const touched = Number(out.Metadata?.[TOUCHED]);
      return {
        size: out.ContentLength ?? 0,
        touched: Number.isSafeInteger(touched) ? touched : (out.LastModified?.getTime() ?? 0),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3Error("head", error);
    }
  }

  /** The object's bytes, or bytes `start` to `end` (exclusive, non-empty), or undefined if absent. */
  async get(key: string, range?: { start: number; end: number }): Promise<Uint8Array | undefined> {
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({
          Bucket: this.name,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw s3Error("get", error);
    }
  }

  /** Writes the object, its last-touched time `touched` (ms). */
  async put(key: string, bytes: Uint8Array, touched: number): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.name,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          Metadata: { [TOUCHED]: String(touched) },
        }),
      );
    } catch (error) {
      throw s3Error("put", error);
    }
  }

  /**
   * Copies `from` to `to` (the same key: a touch) with the last-touched time `touched`, by a
   * CopyObject that replaces the metadata (S3 copies within the bucket, no bytes pass through
   * the relay). False when `from` is absent.
   */
  async copy(from: string, to: string, touched: number): Promise<boolean> {
    try {
      await this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.name,
          Key: to,
          CopySource: `${this.name}/${from.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "REPLACE",
          Metadata: { [TOUCHED]: String(touched) },
        }),
      );
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw s3Error("copy", error);
    }
  }

  /** Deletes the object; absent is fine. */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.name, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw s3Error("delete", error);
    }
  }

  /**
   * The objects under `prefix` with keys after `startAfter`, in key order, a page of up to
   * `limit` (S3 answers at most 1000 per request), or all of them when `limit` is undefined.
   */
  async list(prefix: string, startAfter?: string, limit?: number): Promise<S3ObjectInfo[]> {
    const out: S3ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.name,
            Prefix: prefix,
            ...(token !== undefined
              ? { ContinuationToken: token }
              : startAfter !== undefined
                ? { StartAfter: startAfter }
                : {}),
            ...(limit !== undefined ? { MaxKeys: Math.min(1000, limit - out.length) } : {}),
          }),
        );
        for (const o of page.Contents ?? [])
          if (o.Key !== undefined)
            out.push({
              key: o.Key,
              size: o.Size ?? 0,
              lastModified: o.LastModified?.getTime() ?? 0,
            });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined && (limit === undefined || out.length < limit));
    } catch (error) {
      throw s3Error("list", error);
    }
    return out;
  }

  /** The "directories" right under `prefix`: the common prefixes up to the next `/`. */
  async prefixes(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.name,
            Prefix: prefix,
            Delimiter: "/",
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        );
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw s3Error("list", error);
    }
    return out;
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }
}

/** Whether an S3 error means "no such key/bucket". */
function isNotFound(error: unknown): boolean {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}

/**
 * WeftError STORAGE for a failed S3 request, naming the operation and the S3 error's name
 * (e.g. AccessDenied, SlowDown); the SDK's error stays the cause. No message of the SDK's is
 * quoted, and no request (which carries the signature) either.
 */
function s3Error(what: string, error: unknown): WeftError {
  if (error instanceof WeftError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  const detail = typeof name === "string" && /^[A-Za-z]{1,64}$/.test(name) ? ` (${name})` : "";
  return new WeftError("STORAGE", `S3 chunk store: ${what} failed${detail}`, { cause: error });
}
