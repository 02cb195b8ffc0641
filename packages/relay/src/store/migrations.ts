/** The relay's SQLite schema, as numbered migrations applied on open. */

/**
 * Migration `i + 1` is `MIGRATIONS[i]`; `PRAGMA user_version` records how many are applied. Only
 * ever append: a released migration never changes, so every relay's file converges on one schema.
 *
 * Tables are STRICT so a value of the wrong type is an error rather than a silent coercion, and
 * rowid tables (not WITHOUT ROWID) wherever a row can hold a large BLOB (envelopes and snapshots
 * reach 16 MiB), which WITHOUT ROWID stores badly. Foreign keys are a backstop: the store checks
 * references itself first, to report which one is missing.
 */
export const MIGRATIONS: readonly string[] = [
  // 1. The first schema.
  `CREATE TABLE accounts (
     id            TEXT    NOT NULL PRIMARY KEY,
     user          TEXT    NOT NULL UNIQUE,
     password_hash TEXT    NOT NULL,
     created       INTEGER NOT NULL
   ) STRICT;

   CREATE TABLE devices (
     device_id       TEXT    NOT NULL PRIMARY KEY,
     account_id      TEXT    NOT NULL REFERENCES accounts (id),
     sign_public_key BLOB    NOT NULL,
     box_public_key  BLOB    NOT NULL,
     created         INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX devices_by_account ON devices (account_id, created);

   CREATE TABLE refresh_tokens (
     token_hash TEXT    NOT NULL PRIMARY KEY,
     family     TEXT    NOT NULL,
     account_id TEXT    NOT NULL REFERENCES accounts (id),
     device_id  TEXT    REFERENCES devices (device_id),
     expires    INTEGER NOT NULL,
     used_at    INTEGER,
     revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
   ) STRICT;
   CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
   CREATE INDEX refresh_tokens_by_account ON refresh_tokens (account_id);

   CREATE TABLE folders (
     folder_id TEXT    NOT NULL PRIMARY KEY,
     epoch     INTEGER NOT NULL DEFAULT 0,
     head_seq  INTEGER NOT NULL DEFAULT 0,
     created   INTEGER NOT NULL
   ) STRICT;

   CREATE TABLE members (
     folder_id  TEXT NOT NULL REFERENCES folders (folder_id),
     account_id TEXT NOT NULL REFERENCES accounts (id),
     role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
     PRIMARY KEY (folder_id, account_id)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX members_by_account ON members (account_id);

   CREATE TABLE wrapped_keys (
     folder_id TEXT    NOT NULL REFERENCES folders (folder_id),
     device_id TEXT    NOT NULL REFERENCES devices (device_id),
     epoch     INTEGER NOT NULL,
     blob      BLOB    NOT NULL,
     PRIMARY KEY (folder_id, device_id, epoch)
   ) STRICT;

   CREATE TABLE invites (
     id          TEXT    NOT NULL PRIMARY KEY,
     folder_id   TEXT    NOT NULL REFERENCES folders (folder_id),
     role        TEXT    NOT NULL CHECK (role IN ('editor', 'viewer')),
     created_by  TEXT    NOT NULL REFERENCES accounts (id),
     expires     INTEGER NOT NULL,
     used_by     TEXT    REFERENCES accounts (id),
     revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
     wrapped_key BLOB    NOT NULL,
     epoch       INTEGER NOT NULL
   ) STRICT;

   -- The log. (folder_id, seq) is the primary key, so reading a folder from a seq is one index
   -- range scan; the unique (folder_id, device_id, device_seq) index is the dedupe of appends.
   CREATE TABLE log (
     folder_id  TEXT    NOT NULL REFERENCES folders (folder_id),
     seq        INTEGER NOT NULL,
     device_id  TEXT    NOT NULL REFERENCES devices (device_id),
     device_seq INTEGER NOT NULL,
     envelope   BLOB    NOT NULL,
     PRIMARY KEY (folder_id, seq)
   ) STRICT;
   CREATE UNIQUE INDEX log_by_device_seq ON log (folder_id, device_id, device_seq);

   -- The highest device_seq pruned from the log, per device: pruning removes the rows the dedupe
   -- looks at, and without this a replayed old envelope would be appended a second time.
   CREATE TABLE pruned_device_seqs (
     folder_id  TEXT    NOT NULL REFERENCES folders (folder_id),
     device_id  TEXT    NOT NULL,
     device_seq INTEGER NOT NULL,
     PRIMARY KEY (folder_id, device_id)
   ) STRICT, WITHOUT ROWID;

   -- One snapshot per folder: only the newest is ever served.
   CREATE TABLE snapshots (
     folder_id  TEXT    NOT NULL PRIMARY KEY REFERENCES folders (folder_id),
     epoch      INTEGER NOT NULL,
     covers_seq INTEGER NOT NULL,
     ciphertext BLOB    NOT NULL
   ) STRICT;

   CREATE TABLE acks (
     folder_id TEXT    NOT NULL REFERENCES folders (folder_id),
     device_id TEXT    NOT NULL REFERENCES devices (device_id),
     seq       INTEGER NOT NULL,
     PRIMARY KEY (folder_id, device_id)
   ) STRICT, WITHOUT ROWID;`,
  // 2. When each device last acked in each folder (ms since the epoch), so that a device silent
  //    for long stops holding back pruning; rows from before count as heard at the upgrade.
  `ALTER TABLE acks ADD COLUMN heard INTEGER NOT NULL DEFAULT 0;
   UPDATE acks SET heard = CAST(strftime('%s', 'now') AS INTEGER) * 1000;`,

  // 3. Members and devices (issue 15): device names and removal, announced key epochs, a key
  // rotation owed after a removal, and invite ids stored hashed.
  `ALTER TABLE devices ADD COLUMN name TEXT;
   -- When the device was removed from its account (a lost laptop), or NULL.
   ALTER TABLE devices ADD COLUMN removed INTEGER;

   -- 1 after a member or a member device was removed, until an owner announces the next epoch.
   ALTER TABLE folders ADD COLUMN rotation_due INTEGER NOT NULL DEFAULT 0
     CHECK (rotation_due IN (0, 1));
   -- A folder moved past epoch 0 before announcements existed has no announced key for its
   -- epoch (removal used to move the epoch with no key made): the next owner makes one.
   UPDATE folders SET rotation_due = 1 WHERE epoch > 0;

   -- The owner-signed announcement of each epoch after 0 (core's epoch-record.ts), as sent.
   CREATE TABLE epochs (
     folder_id TEXT    NOT NULL REFERENCES folders (folder_id),
     epoch     INTEGER NOT NULL,
     signer    TEXT    NOT NULL REFERENCES devices (device_id),
     record    TEXT    NOT NULL,
     created   INTEGER NOT NULL,
     PRIMARY KEY (folder_id, epoch)
   ) STRICT;

   -- Invite ids are bearer secrets: only their SHA-256 is kept (weft_sha256_hex is registered
   -- by the store before migrating). Unused invites keep working: they are looked up by hash.
   UPDATE invites SET id = weft_sha256_hex(id);`,

  // 4. When each refresh token was revoked (ms since the epoch), so that a relay starting (or
  //    whose bus was away) learns the sign-ins revoked recently enough that their access tokens
  //    may still be unexpired. Rows revoked before have none: their access tokens, issued
  //    without a family claim, cannot be matched anyway.
  `ALTER TABLE refresh_tokens ADD COLUMN revoked_at INTEGER;
   CREATE INDEX refresh_tokens_by_revoked_at ON refresh_tokens (revoked_at)
     WHERE revoked_at IS NOT NULL;`,

  // 5. Strong-consistency folders (issue 20): per file handle (a keyed digest of a file id the
  //    relay cannot reverse), the token of the last write the relay accepted. Written only by
  //    appendIf, in the append's transaction.
  `CREATE TABLE file_heads (
     folder_id TEXT NOT NULL REFERENCES folders (folder_id),
     handle    BLOB NOT NULL,
     token     BLOB NOT NULL,
     PRIMARY KEY (folder_id, handle)
   ) STRICT;`,

  // 6. A folder's owner-signed metadata (issue 20; core's folder-meta.ts): its consistency
  //    mode, sealed and signed by the creating device, stored with the folder and never changed.
  //    Folders created before have none (NULL): devices treat them as eventual.
  `ALTER TABLE folders ADD COLUMN meta TEXT;`,

  // 7. What each folder's log holds (issue 21: quotas on the log), kept by triggers so that
  //    every insert and delete (append, prune) counts in its own transaction, and a quota check
  //    reads one row instead of summing the log.
  `ALTER TABLE folders ADD COLUMN log_entries INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE folders ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
   UPDATE folders SET
     log_entries = (SELECT count(*) FROM log WHERE log.folder_id = folders.folder_id),
     log_bytes = (SELECT coalesce(sum(length(envelope)), 0) FROM log
                  WHERE log.folder_id = folders.folder_id);
   CREATE TRIGGER log_added AFTER INSERT ON log BEGIN
     UPDATE folders SET log_entries = log_entries + 1, log_bytes = log_bytes + length(NEW.envelope)
       WHERE folder_id = NEW.folder_id;
   END;
   CREATE TRIGGER log_removed AFTER DELETE ON log BEGIN
     UPDATE folders SET log_entries = log_entries - 1, log_bytes = log_bytes - length(OLD.envelope)
       WHERE folder_id = OLD.folder_id;
   END;`,
];

/** The schema version this build writes: the number of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = MIGRATIONS.length;
