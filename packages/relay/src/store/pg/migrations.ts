/** The relay's PostgreSQL schema, as numbered migrations recorded in `schema_migrations`. */

/**
 * Migration `i + 1` is `PG_MIGRATIONS[i]`; `schema_migrations` holds one row per applied step.
 * Only ever append: a released step never changes, so every relay sharing the database agrees on
 * one schema.
 *
 * The first step is the SQLite schema at its version 3 (sqlite migrations 1 to 3), in
 * PostgreSQL's types: `bigint` for counts and times, `bytea` for bytes, `boolean` for flags.
 * Ids and user names are `COLLATE "C"`, so that lists come back in the byte order SQLite gives
 * them, whatever the database's default collation. Envelopes, snapshots and wrapped keys are
 * ciphertext: stored EXTERNAL (out of line, never compressed: compressing them gains nothing).
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1. The first schema.
  `CREATE TABLE accounts (
     id            text   COLLATE "C" NOT NULL PRIMARY KEY,
     user_name     text   COLLATE "C" NOT NULL UNIQUE,
     password_hash text   NOT NULL,
     created       bigint NOT NULL
   );

   CREATE TABLE devices (
     device_id       text   COLLATE "C" NOT NULL PRIMARY KEY,
     account_id      text   COLLATE "C" NOT NULL REFERENCES accounts (id),
     sign_public_key bytea  NOT NULL,
     box_public_key  bytea  NOT NULL,
     created         bigint NOT NULL,
     -- Its human name, or NULL.
     name            text,
     -- When the device was removed from its account (a lost laptop), or NULL.
     removed         bigint
   );
   CREATE INDEX devices_by_account ON devices (account_id, created);

   -- Refresh tokens by the hash of their secret: the secret itself is never stored.
   CREATE TABLE refresh_tokens (
     token_hash text    COLLATE "C" NOT NULL PRIMARY KEY,
     family     text    COLLATE "C" NOT NULL,
     account_id text    COLLATE "C" NOT NULL REFERENCES accounts (id),
     device_id  text    COLLATE "C" REFERENCES devices (device_id),
     expires    bigint  NOT NULL,
     used_at    bigint,
     revoked    boolean NOT NULL DEFAULT false
   );
   CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
   CREATE INDEX refresh_tokens_by_account ON refresh_tokens (account_id);
   CREATE INDEX refresh_tokens_by_device ON refresh_tokens (device_id);

   -- head_seq is the per-folder sequence: an append bumps it under the row's lock, so appends
   -- to one folder are serialized across every relay and the log has no gap.
   CREATE TABLE folders (
     folder_id    text    COLLATE "C" NOT NULL PRIMARY KEY,
     epoch        bigint  NOT NULL DEFAULT 0,
     head_seq     bigint  NOT NULL DEFAULT 0,
     created      bigint  NOT NULL,
     -- true after a member or member device was removed, until an owner announces the next epoch.
     rotation_due boolean NOT NULL DEFAULT false
   );

   CREATE TABLE members (
     folder_id  text COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
     role       text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
     PRIMARY KEY (folder_id, account_id)
   );
   CREATE INDEX members_by_account ON members (account_id);

   CREATE TABLE wrapped_keys (
     folder_id text   COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     device_id text   COLLATE "C" NOT NULL REFERENCES devices (device_id),
     epoch     bigint NOT NULL,
     blob      bytea  NOT NULL,
     PRIMARY KEY (folder_id, device_id, epoch)
   );
   CREATE INDEX wrapped_keys_by_device ON wrapped_keys (device_id);

   -- Invite ids are bearer secrets: id is the hex SHA-256 of the id.
   CREATE TABLE invites (
     id          text    COLLATE "C" NOT NULL PRIMARY KEY,
     folder_id   text    COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     role        text    NOT NULL CHECK (role IN ('editor', 'viewer')),
     created_by  text    COLLATE "C" NOT NULL REFERENCES accounts (id),
     expires     bigint  NOT NULL,
     used_by     text    COLLATE "C" REFERENCES accounts (id),
     revoked     boolean NOT NULL DEFAULT false,
     wrapped_key bytea   NOT NULL,
     epoch       bigint  NOT NULL
   );

   -- The log: (folder_id, seq) is the key, so a page is one index range scan; the unique
   -- (folder_id, device_id, device_seq) index backs the dedupe of appends.
   CREATE TABLE log (
     folder_id  text   COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     seq        bigint NOT NULL,
     device_id  text   COLLATE "C" NOT NULL REFERENCES devices (device_id),
     device_seq bigint NOT NULL,
     envelope   bytea  NOT NULL,
     PRIMARY KEY (folder_id, seq)
   );
   CREATE UNIQUE INDEX log_by_device_seq ON log (folder_id, device_id, device_seq);
   ALTER TABLE log ALTER COLUMN envelope SET STORAGE EXTERNAL;

   -- The highest device_seq pruned from the log, per device: pruning removes the rows the dedupe
   -- looks at, and without this a replayed old envelope would be appended a second time.
   CREATE TABLE pruned_device_seqs (
     folder_id  text   COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     device_id  text   COLLATE "C" NOT NULL,
     device_seq bigint NOT NULL,
     PRIMARY KEY (folder_id, device_id)
   );

   -- One snapshot per folder: only the newest is ever served.
   CREATE TABLE snapshots (
     folder_id  text   COLLATE "C" NOT NULL PRIMARY KEY REFERENCES folders (folder_id),
     epoch      bigint NOT NULL,
     covers_seq bigint NOT NULL,
     ciphertext bytea  NOT NULL
   );
   ALTER TABLE snapshots ALTER COLUMN ciphertext SET STORAGE EXTERNAL;

   -- heard: when the device last acked in the folder (ms since the epoch).
   CREATE TABLE acks (
     folder_id text   COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     device_id text   COLLATE "C" NOT NULL REFERENCES devices (device_id),
     seq       bigint NOT NULL,
     heard     bigint NOT NULL,
     PRIMARY KEY (folder_id, device_id)
   );

   -- The owner-signed announcement of each epoch after 0 (core's epoch-record.ts), as sent.
   CREATE TABLE epochs (
     folder_id text   COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     epoch     bigint NOT NULL,
     signer    text   COLLATE "C" NOT NULL REFERENCES devices (device_id),
     record    text   NOT NULL,
     created   bigint NOT NULL,
     PRIMARY KEY (folder_id, epoch)
   );

   -- Secrets every relay on the database shares (the JWT signing secret), made by the first.
   CREATE TABLE relay_secrets (
     name  text COLLATE "C" NOT NULL PRIMARY KEY,
     value text NOT NULL
   );`,
  // 2. When each refresh token was revoked (ms since the epoch), as SQLite's migration 4: a relay
  //    starting, or whose bus was away, loads the sign-ins revoked within an access token's life.
  `ALTER TABLE refresh_tokens ADD COLUMN revoked_at bigint;
   CREATE INDEX refresh_tokens_by_revoked_at ON refresh_tokens (revoked_at)
     WHERE revoked_at IS NOT NULL;`,
  // 3. Strong-consistency folders, as SQLite's migration 5: per file handle, the token of the
  //    last write accepted; written only by appendIf, under the folder row's lock.
  `CREATE TABLE file_heads (
     folder_id text  COLLATE "C" NOT NULL REFERENCES folders (folder_id),
     handle    bytea NOT NULL,
     token     bytea NOT NULL,
     PRIMARY KEY (folder_id, handle)
   );`,
  // 4. A folder's owner-signed metadata, as SQLite's migration 6: stored with the folder, never
  //    changed; NULL for folders created before.
  `ALTER TABLE folders ADD COLUMN meta text;`,
  // 5. An append in one statement (one round trip, no BEGIN/COMMIT): the folder row's lock, the
  //    dedupe, the pruned deviceSeqs, the device, the head's bump and the insert, as the
  //    multi-statement transaction did them. PL/pgSQL takes a fresh snapshot per statement in a
  //    VOLATILE function, so the reads after the lock see an append that committed while this
  //    one waited for it (its retry is then a duplicate, its seq the next one: no gap).
  `CREATE FUNCTION weft_append(p_folder text, p_device text, p_device_seq bigint, p_envelope bytea,
     OUT o_seq bigint, OUT o_outcome text) VOLATILE LANGUAGE plpgsql AS $$
   DECLARE
     v_envelope bytea;
     v_pruned bigint;
   BEGIN
     PERFORM 1 FROM folders f WHERE f.folder_id = p_folder FOR UPDATE;
     IF NOT FOUND THEN o_outcome := 'no_folder'; RETURN; END IF;
     SELECT l.seq, l.envelope INTO o_seq, v_envelope FROM log l
       WHERE l.folder_id = p_folder AND l.device_id = p_device AND l.device_seq = p_device_seq;
     IF FOUND THEN
       o_outcome := CASE WHEN v_envelope = p_envelope THEN 'duplicate' ELSE 'reused' END;
       RETURN;
     END IF;
     SELECT p.device_seq INTO v_pruned FROM pruned_device_seqs p
       WHERE p.folder_id = p_folder AND p.device_id = p_device;
     IF p_device_seq <= coalesce(v_pruned, -1) THEN o_outcome := 'pruned'; RETURN; END IF;
     PERFORM 1 FROM devices d WHERE d.device_id = p_device;
     IF NOT FOUND THEN o_outcome := 'no_device'; RETURN; END IF;
     UPDATE folders f SET head_seq = f.head_seq + 1 WHERE f.folder_id = p_folder
       RETURNING f.head_seq INTO o_seq;
     INSERT INTO log (folder_id, seq, device_id, device_seq, envelope)
       VALUES (p_folder, o_seq, p_device, p_device_seq, p_envelope);
     o_outcome := 'appended';
   END $$;`,
  // 6. What each folder's log holds, as SQLite's migration 7, kept by statement-level triggers
  //    (one update per folder and statement: a prune deleting many entries updates the folder
  //    row once, after taking the log rows' locks, as an append takes the folder's first).
  `ALTER TABLE folders ADD COLUMN log_entries bigint NOT NULL DEFAULT 0,
     ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
   UPDATE folders f SET log_entries = u.n, log_bytes = u.b
     FROM (SELECT folder_id, count(*) AS n, sum(octet_length(envelope)) AS b FROM log
           GROUP BY folder_id) u
     WHERE u.folder_id = f.folder_id;
   CREATE FUNCTION weft_log_added() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE folders f SET log_entries = f.log_entries + u.n, log_bytes = f.log_bytes + u.b
       FROM (SELECT folder_id, count(*) AS n, sum(octet_length(envelope)) AS b FROM added
             GROUP BY folder_id) u
       WHERE f.folder_id = u.folder_id;
     RETURN NULL;
   END $$;
   CREATE FUNCTION weft_log_removed() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE folders f SET log_entries = f.log_entries - u.n, log_bytes = f.log_bytes - u.b
       FROM (SELECT folder_id, count(*) AS n, sum(octet_length(envelope)) AS b FROM removed
             GROUP BY folder_id) u
       WHERE f.folder_id = u.folder_id;
     RETURN NULL;
   END $$;
   CREATE TRIGGER log_added AFTER INSERT ON log REFERENCING NEW TABLE AS added
     FOR EACH STATEMENT EXECUTE FUNCTION weft_log_added();
   CREATE TRIGGER log_removed AFTER DELETE ON log REFERENCING OLD TABLE AS removed
     FOR EACH STATEMENT EXECUTE FUNCTION weft_log_removed();`,
];

/** The schema version this build writes: the number of {@link PG_MIGRATIONS}. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;
