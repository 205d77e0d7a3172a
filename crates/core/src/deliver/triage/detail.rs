//! What the feed's detail pane shows for one alert: the alert with its
//! history, its latest comments and the workflow actions it offers now,
//! read from the Alert API in one go (three calls through the client's
//! limiter). Each part fails on its own, in words: an unreadable comment
//! list still shows the alert and its actions.
//!
//! Must not: write anything (it only reads), or clean untrusted text (the
//! window shows it as text; the controls are stripped there).

use crate::model::urgency::Band;
use crate::net::sekoia::{AlertRecord, Client, Comment, SekoiaError, WorkflowAction};
use serde::Serialize;

/// How many comments the pane gets (the newest).
pub const COMMENTS_SHOWN: usize = 5;

/// The detail pane's content. Serialized as is for the window (untrusted
/// strings are raw: the window sets them as text).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detail {
    pub uuid: String,
    /// The alert and its history, when it could be read.
    pub alert: Option<AlertRecord>,
    /// The band of its current urgency (`urgency::Band`), when known.
    pub band: Option<Band>,
    /// Why the alert could not be read, in words (404: Sekoia.io does not
    /// know it).
    pub alert_error: Option<String>,
    /// The latest [`COMMENTS_SHOWN`] comments, newest first.
    pub comments: Vec<Comment>,
    /// How many comments the alert has in all.
    pub comments_total: usize,
    pub comments_error: Option<String>,
    /// The workflow actions allowed from the current status.
    pub actions: Vec<WorkflowAction>,
    pub actions_error: Option<String>,
}

/// Reads the pane's three parts for alert `uuid` at once.
pub async fn detail(client: &Client, uuid: &str) -> Detail {
    let (record, comments, actions) = tokio::join!(
        client.alert_record(uuid),
        client.comments(uuid),
        client.workflow(uuid)
    );
    let mut detail = Detail {
        uuid: uuid.to_owned(),
        ..Detail::default()
    };
    match record {
        Ok(record) => {
            let urgency = record.alert.urgency_value();
            let display = record
                .alert
                .urgency
                .as_ref()
                .and_then(|u| u.display.clone());
            detail.band = Band::rate(urgency, display.as_deref());
            detail.alert = Some(record);
        }
        Err(e) => detail.alert_error = Some(words(&e)),
    }
    match comments {
        Ok(all) => {
            detail.comments_total = all.len();
            detail.comments = all.into_iter().take(COMMENTS_SHOWN).collect();
        }
        Err(e) => detail.comments_error = Some(words(&e)),
    }
    match actions {
        Ok(actions) => detail.actions = actions,
        Err(e) => detail.actions_error = Some(words(&e)),
    }
    detail
}

/// An error as the pane says it: a 404 means the alert is unknown to
/// Sekoia.io, said plainly; the rest are the client's sentences.
fn words(e: &SekoiaError) -> String {
    match e {
        SekoiaError::NotFound => "Sekoia.io does not know this alert (404): it may have been deleted, or belong to another community or region".to_owned(),
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}
