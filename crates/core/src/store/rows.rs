//! The feed's rows kept ready: one `feed_rows` line per subject (an alert
//! with its updates and comments, a case, or one event about nothing we
//! group by) with the ids and counts the feed query needs, maintained in
//! the same transaction as every insert ([`add`], called by each writer
//! of `events`), read mark and delete (triggers). The feed then reads the newest `limit` rows through an index
//! instead of grouping every stored event on each call (a million events
//! took seconds). Owns the migration's SQL and the rebuild; never decides
//! what a row shows (that is `Reader::feed`).

use super::StoreError;
use crate::model::event::Event;
use rusqlite::Transaction;

/// The group key of an event row `e` (see `Reader::feed`): its subject and
/// uuid, or its own id for an event that names no subject.
macro_rules! key {
    ($e:literal) => {
        concat!(
            "(CASE WHEN ",
            $e,
            ".uuid = '' THEN 'id:' || ",
            $e,
            ".id ELSE ",
            $e,
            ".subject || ':' || ",
            $e,
            ".uuid END)"
        )
    };
}

/// The newest id among the other events of `OLD`'s group that match `cond`,
/// or NULL: walks the `events_uuid` index (uuid, subject, id) backwards
/// from the newest.
macro_rules! newest {
    ($cond:literal) => {
        concat!(
            "(SELECT id FROM events WHERE OLD.uuid != '' AND subject = OLD.subject AND uuid = OLD.uuid AND ",
            $cond,
            " ORDER BY id DESC LIMIT 1)"
        )
    };
}

/// How a new event's feed row (`excluded`) folds into the row its group
/// already has: counts add up, each id keeps the newest. One text for
/// migration 9's trigger and [`add`].
macro_rules! fold {
    () => {
        "
       ON CONFLICT (key) DO UPDATE SET
         loud = MAX(COALESCE(loud, excluded.loud), COALESCE(excluded.loud, loud)),
         last = MAX(last, excluded.last),
         unread = unread + excluded.unread,
         comments = comments + excluded.comments,
         status_id = MAX(COALESCE(status_id, excluded.status_id), COALESCE(excluded.status_id, status_id)),
         occ_id = MAX(COALESCE(occ_id, excluded.occ_id), COALESCE(excluded.occ_id, occ_id)),
         short_id = MAX(COALESCE(short_id, excluded.short_id), COALESCE(excluded.short_id, short_id))"
    };
}

/// Migration 9: the table, its triggers (the first fill is [`rebuild`]),
/// and the index of unread events. `head` is the
/// row's newest event that is not an occurrence or urgency update (`loud`),
/// else its newest (`last`): what orders the feed.
pub(super) const MIGRATION: &str = concat!(
    "CREATE TABLE feed_rows (
        key       TEXT    PRIMARY KEY,
        loud      INTEGER,
        last      INTEGER NOT NULL,
        head      INTEGER NOT NULL GENERATED ALWAYS AS (COALESCE(loud, last)) VIRTUAL,
        unread    INTEGER NOT NULL,
        comments  INTEGER NOT NULL,
        status_id INTEGER,
        occ_id    INTEGER,
        short_id  TEXT
     ) STRICT;
     CREATE INDEX feed_rows_head ON feed_rows (head);
     CREATE INDEX feed_rows_unread ON feed_rows (head) WHERE unread > 0;
     -- Mark-all-read on the writer thread: the unread events only, not
     -- a pass over every stored event while intake waits.
     CREATE INDEX events_unread ON events (id) WHERE read = 0;
     CREATE TRIGGER feed_rows_insert AFTER INSERT ON events BEGIN
       INSERT INTO feed_rows (key, loud, last, unread, comments, status_id, occ_id, short_id)
       VALUES (",
    key!("NEW"),
    ",
               CASE WHEN NEW.change_kind IN ('occurrences', 'urgency') THEN NULL ELSE NEW.id END,
               NEW.id, NEW.read = 0, NEW.kind = 'alert-comment',
               CASE WHEN NEW.change_kind = 'status' THEN NEW.id END,
               CASE WHEN NEW.change_kind = 'occurrences' THEN NEW.id END,
               NEW.short_id)
     ",
    fold!(),
    ";
     END;
     CREATE TRIGGER feed_rows_read AFTER UPDATE OF read ON events WHEN OLD.read IS NOT NEW.read BEGIN
       UPDATE feed_rows SET unread = unread + (NEW.read = 0) - (OLD.read = 0) WHERE key = ",
    key!("NEW"),
    ";
     END;
     CREATE TRIGGER feed_rows_delete AFTER DELETE ON events BEGIN
       UPDATE feed_rows SET
         unread = unread - (OLD.read = 0),
         comments = comments - (OLD.kind = 'alert-comment'),
         last = CASE WHEN last = OLD.id THEN COALESCE(",
    newest!("1"),
    ", 0) ELSE last END,
         loud = CASE WHEN loud = OLD.id THEN ",
    newest!("change_kind IS NOT 'occurrences' AND change_kind IS NOT 'urgency'"),
    " ELSE loud END,
         status_id = CASE WHEN status_id = OLD.id THEN ",
    newest!("change_kind = 'status'"),
    " ELSE status_id END,
         occ_id = CASE WHEN occ_id = OLD.id THEN ",
    newest!("change_kind = 'occurrences'"),
    " ELSE occ_id END
       WHERE key = ",
    key!("OLD"),
    ";
       DELETE FROM feed_rows WHERE key = ",
    key!("OLD"),
    " AND last = 0;
     END;"
);

/// What [`add`] needs of an event row just inserted.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// `events.id` of the row.
    pub id: i64,
    /// `events.subject` (`kind::Subject::as_str`).
    pub subject: &'a str,
    /// `events.uuid`: the subject's uuid, empty when the event names none.
    pub uuid: &'a str,
    /// `events.kind`.
    pub kind: &'a str,
    /// `events.change_kind` (`kind::Change::tag`), if the event changed something.
    pub change_kind: Option<&'a str>,
    pub short_id: Option<&'a str>,
    /// `events.read`.
    pub read: bool,
}

impl<'a> NewEvent<'a> {
    /// The row of `event`, inserted as `id` with `change_kind` (the
    /// caller has it already for the INSERT) and read or not.
    pub fn of(id: i64, event: &'a Event, change_kind: Option<&'a str>, read: bool) -> Self {
        NewEvent {
            id,
            subject: event.subject.as_str(),
            uuid: &event.uuid,
            kind: &event.kind,
            change_kind,
            short_id: event.short_id.as_deref(),
            read,
        }
    }
}

/// Folds one event row just inserted into its `feed_rows` line (the
/// upsert the insert trigger ran before migration 10). Every INSERT into
/// `events` calls it in the same transaction; `tests` checks the table
/// against a regrouping from scratch after each way of storing an event.
pub fn add(conn: &rusqlite::Connection, e: &NewEvent<'_>) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(concat!(
        "INSERT INTO feed_rows (key, loud, last, unread, comments, status_id, occ_id, short_id)
         VALUES (CASE WHEN ?2 = '' THEN 'id:' || ?1 ELSE ?3 || ':' || ?2 END,
                 CASE WHEN ?4 IN ('occurrences', 'urgency') THEN NULL ELSE ?1 END,
                 ?1, ?5 = 0, ?6 = 'alert-comment',
                 CASE WHEN ?4 = 'status' THEN ?1 END,
                 CASE WHEN ?4 = 'occurrences' THEN ?1 END,
                 ?7)",
        fold!()
    ))?
    .execute(rusqlite::params![
        e.id,
        e.uuid,
        e.subject,
        e.change_kind,
        e.read,
        e.kind,
        e.short_id
    ])?;
    Ok(())
}

/// Fills `feed_rows` from every stored event (after the migration, or to
/// repair): the grouping the feed did on each call before.
pub(super) fn rebuild(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("DELETE FROM feed_rows", [])?;
    tx.execute(
        concat!(
            "INSERT INTO feed_rows (key, loud, last, unread, comments, status_id, occ_id, short_id)
             SELECT ",
            key!("e"),
            ",
                    MAX(CASE WHEN change_kind IN ('occurrences', 'urgency') THEN NULL ELSE id END),
                    MAX(id), SUM(read = 0), SUM(kind = 'alert-comment'),
                    MAX(CASE WHEN change_kind = 'status' THEN id END),
                    MAX(CASE WHEN change_kind = 'occurrences' THEN id END),
                    MAX(short_id)
             FROM events e GROUP BY 1"
        ),
        [],
    )?;
    Ok(())
}

/// The group key of the event `e` in SQL, for other queries of the store.
pub(super) const EVENT_KEY: &str = key!("e");

#[cfg(test)]
/// A `feed_rows` line: key, head, last, unread, comments, status, occurrences.
type RowLine = (String, i64, i64, i64, i64, Option<i64>, Option<i64>);

#[cfg(test)]
/// `feed_rows` equals a regrouping of every stored event from scratch.
pub(super) fn assert_consistent(conn: &rusqlite::Connection) {
    let query = |sql: &str| -> Vec<RowLine> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    let kept = query(
        "SELECT key, head, last, unread, comments, status_id, occ_id FROM feed_rows ORDER BY key",
    );
    let regrouped = query(&format!(
        "SELECT {key},
                COALESCE(MAX(CASE WHEN change_kind IN ('occurrences', 'urgency') THEN NULL ELSE id END), MAX(id)),
                MAX(id), SUM(read = 0), SUM(kind = 'alert-comment'),
                MAX(CASE WHEN change_kind = 'status' THEN id END),
                MAX(CASE WHEN change_kind = 'occurrences' THEN id END)
         FROM events e GROUP BY 1 ORDER BY 1",
        key = EVENT_KEY
    ));
    assert_eq!(kept, regrouped);
}
