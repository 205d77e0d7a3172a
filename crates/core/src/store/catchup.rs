//! The store's side of catch-up: adding alerts the Alert API knows but the
//! feed lacks (as handled events marked `caught_up`, with their alert cached),
//! named cursors, and recognising a late webhook for an alert already caught
//! up. Writes happen on the writer thread only (through `Msg::CatchUp`).
//! Knows nothing about the API or pop-ups.

use super::{save_alerts, Msg, Reader, StoreError, Writer};
use crate::event::Event;
use crate::sekoia::Alert;
use rusqlite::{params, OptionalExtension, Transaction};
use tokio::sync::oneshot;

/// A batch of alerts from one page of the API, and the cursor to move and
/// the gaps to close with it.
pub(super) struct Job {
    alerts: Vec<Alert>,
    cursor: Option<(String, String)>,
    fill: Fill,
    pub(super) reply: oneshot::Sender<Result<Vec<usize>, StoreError>>,
}

/// The gaps a finished catch-up closed (see `reach::pending`), recorded in
/// the transaction of its last page so that a stop between the two cannot
/// leave a filled gap pending or a pending one filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// None (a page that is not the last one).
    Nothing,
    /// The gap with this id (`reach::Pending::id`).
    Gap(i64),
    /// Every closed gap that ended at or before this unix time (the start
    /// catch-up, which read from the cursor, and so from the earliest
    /// unfilled gap, up to then).
    EndedBy(i64),
}

impl Writer {
    /// Adds the alerts no event in the store is about yet, as handled
    /// `alert:created` events marked caught up (no pop-up of their own), and
    /// caches every alert given. With `cursor`, also sets that named cursor,
    /// in the same transaction. Returns the indices (into `alerts`) of the
    /// alerts added.
    pub async fn catch_up(
        &self,
        alerts: Vec<Alert>,
        cursor: Option<(&str, &str)>,
    ) -> Result<Vec<usize>, StoreError> {
        self.catch_up_filling(alerts, cursor, Fill::Nothing).await
    }

    /// [`Writer::catch_up`], also marking the gaps `fill` names as filled.
    pub async fn catch_up_filling(
        &self,
        alerts: Vec<Alert>,
        cursor: Option<(&str, &str)>,
        fill: Fill,
    ) -> Result<Vec<usize>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            alerts,
            cursor: cursor.map(|(n, v)| (n.to_owned(), v.to_owned())),
            fill,
            reply,
        };
        self.tx
            .send(Msg::CatchUp(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Sets a named cursor.
    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.catch_up(Vec::new(), Some((name, value)))
            .await
            .map(drop)
    }

    /// Sets the time cursor `name` to `at` (unix seconds), or to the start
    /// of the earliest unfilled gap (or of the outage still open) when that
    /// is earlier: the cursor never passes a gap no catch-up filled.
    /// Returns the value set.
    pub async fn set_time_cursor_below_gaps(&self, name: &str, at: i64) -> Result<i64, StoreError> {
        let name = name.to_owned();
        let (tx, rx) = oneshot::channel();
        self.apply(Box::new(move |t| {
            let value = crate::reach::unfilled_since(t)?.map_or(at, |s| s.min(at));
            let stamp = time::OffsetDateTime::from_unix_timestamp(value)
                .ok()
                .and_then(|v| {
                    v.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            t.execute(
                "INSERT INTO cursors (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = ?2",
                params![name, stamp],
            )?;
            let _ = tx.send(value);
            Ok(())
        }))
        .await?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}

impl Reader {
    /// A named cursor's value, if it was ever set.
    pub fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM cursors WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

pub(super) fn apply(tx: &Transaction<'_>, job: &Job) -> Result<Vec<usize>, StoreError> {
    let received_at = super::now_rfc3339();
    let mut added = Vec::new();
    {
        let mut known = tx.prepare_cached("SELECT 1 FROM events WHERE uuid = ?1 LIMIT 1")?;
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO events (dedup_key, received_at, kind, action, uuid, short_id,
                 created_at, raw, deliveries, handled, caught_up, subject)
             VALUES (?1, ?2, 'alert', 'created', ?3, ?4, ?5, ?6, 0, 1, 1, 'alert')",
        )?;
        for (i, alert) in job.alerts.iter().enumerate() {
            let Some(uuid) = alert.uuid.as_deref() else {
                continue;
            };
            if known.exists([uuid])? {
                continue;
            }
            let raw = serde_json::json!({
                "type": "alert",
                "action": "created",
                "attributes": {"uuid": uuid, "short_id": alert.short_id},
                "metadata": {"source": "catch-up"},
            })
            .to_string();
            let inserted = insert.execute(params![
                format!("catch-up\u{1f}alert\u{1f}{uuid}"),
                received_at,
                uuid,
                alert.short_id,
                alert.created_at.map(|t| t.to_string()),
                raw
            ])?;
            if inserted == 1 {
                super::rows::add(
                    tx,
                    &super::rows::NewEvent {
                        id: tx.last_insert_rowid(),
                        subject: "alert",
                        uuid,
                        kind: "alert",
                        change_kind: None,
                        short_id: alert.short_id.as_deref(),
                        read: false,
                    },
                )?;
                added.push(i);
            }
        }
    }
    save_alerts(tx, &job.alerts)?;
    if let Some((name, value)) = &job.cursor {
        tx.execute(
            "INSERT INTO cursors (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = ?2",
            params![name, value],
        )?;
    }
    match job.fill {
        Fill::Nothing => {}
        Fill::Gap(id) => crate::reach::filled(tx, id)?,
        Fill::EndedBy(until) => crate::reach::filled_until(tx, until)?,
    }
    Ok(added)
}

/// [`late_webhook`]'s query (through the `events_uuid` index).
pub(super) const LATE_WEBHOOK: &str = "SELECT id FROM events
    WHERE uuid = ?1 AND caught_up = 1 AND kind = 'alert' AND action = 'created'
    LIMIT 1";

/// The id of the caught-up event an `alert:created` webhook is about, if a
/// catch-up added that alert first: the webhook is then a (late) delivery of
/// the same event, counted but not stored again.
pub(super) fn late_webhook(tx: &Transaction<'_>, event: &Event) -> Result<Option<i64>, StoreError> {
    if event.kind != "alert" || event.action != "created" {
        return Ok(None);
    }
    // A SELECT first: this runs for every new alert and almost never
    // matches, and an UPDATE ... RETURNING costs several times a lookup
    // (6% of the daemon's CPU under an intake flood, `make bench`).
    let found = tx
        .prepare_cached(LATE_WEBHOOK)?
        .query_row([&event.uuid], |r| r.get::<_, i64>(0))
        .optional()?;
    if let Some(id) = found {
        tx.prepare_cached("UPDATE events SET deliveries = deliveries + 1 WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use crate::store::{Store, Stored};

    fn alert(uuid: &str, urgency: u8) -> Alert {
        serde_json::from_value(fake_sekoia::alert_json(uuid, "ALx", "Caught", urgency)).unwrap()
    }

    fn webhook(uuid: &str) -> Event {
        let body = format!(
            r#"{{"type":"alert","action":"created","attributes":{{"uuid":"{uuid}","short_id":"ALx"}},"metadata":{{"version":2,"created_at":1}}}}"#
        );
        Event::parse(body.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn only_alerts_missing_from_the_feed_are_added_marked_caught_up_and_enriched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        w.insert(webhook("a1")).await.unwrap();
        let page = vec![alert("a1", 10), alert("a2", 90), Alert::default()];
        let added = w.catch_up(page, Some(("c", "v1"))).await.unwrap();
        assert_eq!(added, [1]);
        // The same page again adds nothing.
        let again = w.catch_up(vec![alert("a2", 90)], None).await.unwrap();
        assert!(again.is_empty());
        let reader = store.reader().unwrap();
        let feed = reader.feed(10, &Settings::default()).unwrap();
        assert_eq!(feed.len(), 2);
        let caught = feed.iter().find(|e| e.uuid == "a2").unwrap();
        assert!(caught.caught_up && caught.enriched);
        assert_eq!(caught.title.as_deref(), Some("Caught"));
        assert!(!feed.iter().find(|e| e.uuid == "a1").unwrap().caught_up);
        assert_eq!(reader.cursor("c").unwrap().as_deref(), Some("v1"));
        w.set_cursor("c", "v2").await.unwrap();
        assert_eq!(reader.cursor("c").unwrap().as_deref(), Some("v2"));
        assert_eq!(reader.cursor("other").unwrap(), None);
        // Caught-up events are already handled: the pipeline never pops them up.
        assert_eq!(store.ledger().unwrap().unhandled(10).unwrap().len(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn a_late_webhook_for_a_caught_up_alert_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.writer();
        w.catch_up(vec![alert("a2", 90)], None).await.unwrap();
        let late = w.insert(webhook("a2")).await.unwrap();
        assert!(matches!(late, Stored::Duplicate { .. }));
        let reader = store.reader().unwrap();
        assert_eq!(reader.feed(10, &Settings::default()).unwrap().len(), 1);
        assert_eq!(reader.deliveries(late.id()).unwrap(), Some(1));
        store.close().await;
    }
}
