/**
 * Test helper: relays scaled out as an operator runs them — several relay processes over one
 * PostgreSQL database of the test's own, one s3rver bucket and a nats-server of the test's own.
 */
import { type NatsHandle, startNatsServer } from "./nats-process.js";
import { type TestDatabase, createTestDatabase } from "./pg-database.js";
import { type RelayProcess, startRelayProcess } from "./relay-process.js";
import { type S3rverHandle, startS3rver } from "./s3rver-process.js";

/** A running cluster: its relays and the servers they share. */
export interface RelayCluster {
  readonly relays: RelayProcess[];
  readonly db: TestDatabase;
  readonly nats: NatsHandle;
  readonly s3: S3rverHandle;
  /** Kills the relays and the servers, and drops the database. */
  dispose(): Promise<void>;
}

/** Starts `count` relays (`--database`, `--bus`, `--blobs s3://BUCKET`); resolves once all listen. */
export async function startRelayCluster(count: number, bucket: string): Promise<RelayCluster> {
  const [db, nats, s3] = await Promise.all([
    createTestDatabase(),
    startNatsServer(),
    startS3rver(),
  ]);
  const env = {
    WEFT_RELAY_DATABASE: db.url,
    WEFT_RELAY_BUS: nats.url,
    WEFT_RELAY_BLOBS: `s3://${bucket}`,
    WEFT_RELAY_S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: s3.region,
  };
  // The first makes the schema and the shared JWT secret; the others start on them together.
  const relays = [await startRelayProcess(env)];
  relays.push(
    ...(await Promise.all(Array.from({ length: count - 1 }, () => startRelayProcess(env)))),
  );
  return {
    relays,
    db,
    nats,
    s3,
    dispose: async () => {
      await Promise.all(relays.map((r) => r.dispose()));
      await Promise.all([nats.stop(), s3.stop()]);
      await db.drop();
    },
  };
}
