//! Enrichment owed, kept ready: one `owed` line per alert that has a handled
//! event without a cached answer nor a final error, maintained by triggers
//! on `events` and `alerts` in the transactions that change them. The
//! pipeline's retry then reads the owed alerts through an index instead of
//! joining every stored alert event against the cache (a million events
//! took most of a second per retry). Owns the table's SQL; never decides
//! what is retried when (that is the pipeline).

use super::StoreError;
use rusqlite::Transaction;

/// Created right after migration 9 (part of that version): the table, its
/// triggers and its first fill. `since` is the first owed event's id, the
/// order retries go in.
const SCHEMA: &str = "
    CREATE TABLE owed (
        uuid  TEXT    PRIMARY KEY,
        since INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX owed_since ON owed (since);
    CREATE TRIGGER owed_handled AFTER UPDATE OF handled ON events
      WHEN NEW.handled = 1 AND NEW.subject = 'alert' AND NEW.uuid != '' AND NEW.enrich_error IS NULL
    BEGIN
      INSERT OR IGNORE INTO owed (uuid, since)
        SELECT NEW.uuid, NEW.id WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE uuid = NEW.uuid);
    END;
    CREATE TRIGGER owed_inserted AFTER INSERT ON events
      WHEN NEW.handled = 1 AND NEW.subject = 'alert' AND NEW.uuid != '' AND NEW.enrich_error IS NULL
    BEGIN
      INSERT OR IGNORE INTO owed (uuid, since)
        SELECT NEW.uuid, NEW.id WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE uuid = NEW.uuid);
    END;
    CREATE TRIGGER owed_retried AFTER UPDATE OF enrich_error ON events
      WHEN NEW.enrich_error IS NULL AND NEW.handled = 1 AND NEW.subject = 'alert' AND NEW.uuid != ''
    BEGIN
      INSERT OR IGNORE INTO owed (uuid, since)
        SELECT NEW.uuid, NEW.id WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE uuid = NEW.uuid);
    END;
    -- A final failure is recorded on every event of the alert at once.
    CREATE TRIGGER owed_failed AFTER UPDATE OF enrich_error ON events
      WHEN NEW.enrich_error IS NOT NULL
    BEGIN
      DELETE FROM owed WHERE uuid = NEW.uuid;
    END;
    CREATE TRIGGER owed_cached AFTER INSERT ON alerts BEGIN
      DELETE FROM owed WHERE uuid = NEW.uuid;
    END;
    CREATE TRIGGER owed_uncached AFTER DELETE ON alerts BEGIN
      INSERT OR IGNORE INTO owed (uuid, since)
        SELECT OLD.uuid, MIN(id) FROM events
        WHERE uuid = OLD.uuid AND subject = 'alert' AND handled = 1 AND enrich_error IS NULL
        HAVING COUNT(*) > 0;
    END;
    CREATE TRIGGER owed_removed AFTER DELETE ON events WHEN OLD.subject = 'alert' BEGIN
      DELETE FROM owed WHERE uuid = OLD.uuid AND NOT EXISTS (
        SELECT 1 FROM events
        WHERE uuid = OLD.uuid AND subject = 'alert' AND handled = 1 AND enrich_error IS NULL);
    END;
    INSERT INTO owed (uuid, since)
      SELECT e.uuid, MIN(e.id) FROM events e
      WHERE e.subject = 'alert' AND e.uuid != '' AND e.handled = 1 AND e.enrich_error IS NULL
        AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.uuid = e.uuid)
      GROUP BY e.uuid;";

/// Creates and fills `owed` (migration 9).
pub(super) fn create(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(SCHEMA)?;
    Ok(())
}

/// The pipeline's question: up to `?1` owed alert uuids, oldest first.
pub(super) const OWED: &str = "SELECT uuid FROM owed ORDER BY since LIMIT ?1";
