//! Triage from the notifier: acknowledging an alert in Sekoia.io, or any
//! workflow action its workflow offers now ([`apply`], with a comment).
//! Reads the alert's workflow, triggers the action, and refreshes the feed
//! entry's status through the writer. The desktop pop-up ("Acknowledge"
//! button) and the desktop app's feed window both call [`acknowledge`];
//! the feed's detail pane reads through [`detail`].
//!
//! Must not: write SQLite itself (the writer does), guess an action id (it
//! always comes from the workflow the API lists for this alert), or put
//! untrusted text unfiltered into a message.
//!
//! In detail: `acknowledge(&Client, &Writer, uuid)`: finds the alert's
//! Acknowledge action in its workflow, triggers it, re-reads the alert and
//! records it through the writer (the feed shows the new status);
//! `acknowledger(client, writer)` wraps it as the `notify::Acknowledger` the
//! desktop pop-up calls. A plain pub async fn, so the desktop app's feed window
//! calls the same. `apply(&Client, &Writer, uuid, action_id, comment)`: any
//! action the alert's workflow lists now (an id it does not list is refused
//! before any PATCH), with an optional comment, then the same read-back.
//! `triage::detail::detail(&Client, uuid)`: the feed's detail pane in one go
//! (the alert with its history, its comments, its workflow actions; three calls
//! through the limiter), each part failing on its own in words.

use std::sync::Arc;

use crate::deliver::notify::{cap, strip_controls, Acknowledger};
use crate::net::sekoia::{Client, SekoiaError};
use crate::store::{StoreError, Writer};

/// The name of the workflow action this module triggers.
pub const ACKNOWLEDGE: &str = "Acknowledge";

/// Why an alert could not be acknowledged, in words.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// 403 carries the missing permission, 409 that the alert moved on.
    #[error(transparent)]
    Sekoia(#[from] SekoiaError),
    #[error("Sekoia.io offers no Acknowledge action for this alert (it offers: {offered}); it is probably no longer pending")]
    NoAcknowledge { offered: String },
    #[error("Sekoia.io no longer offers this action for the alert (it offers: {offered}); its status probably changed meanwhile")]
    NotOffered { offered: String },
    #[error("no Sekoia.io API key is set, and acknowledging needs one with the SIC_WRITE_ALERTS_WORKFLOW permission; run `sekoia-notifierd set-api-key`")]
    NoKey,
    #[error("the alert was acknowledged, but its feed entry could not be updated: {0}")]
    Store(#[from] StoreError),
}

/// What an acknowledgement changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// The alert's status name after the change, when Sekoia.io told it.
    pub status: Option<String>,
}

/// Acknowledges the alert `uuid` in Sekoia.io and updates its feed entry.
/// Needs SIC_WRITE_ALERTS_WORKFLOW on the key.
pub async fn acknowledge(
    client: &Client,
    writer: &Writer,
    uuid: &str,
) -> Result<Acknowledged, TriageError> {
    let actions = client.workflow(uuid).await?;
    let Some(action) = actions
        .iter()
        .find(|a| a.name.trim().eq_ignore_ascii_case(ACKNOWLEDGE))
    else {
        return Err(TriageError::NoAcknowledge {
            offered: offered(&actions),
        });
    };
    client.trigger_workflow(uuid, &action.id).await?;
    tracing::info!(alert = uuid, "alert acknowledged in Sekoia.io");
    read_back(client, writer, uuid).await
}

/// Triggers workflow action `action_id` on alert `uuid`, with an optional
/// comment, and updates its feed entry (the detail pane's buttons). The
/// action must be one the alert's workflow lists now: an id the API does
/// not offer is refused before any change is asked for.
pub async fn apply(
    client: &Client,
    writer: &Writer,
    uuid: &str,
    action_id: &str,
    comment: Option<&str>,
) -> Result<Acknowledged, TriageError> {
    let actions = client.workflow(uuid).await?;
    let Some(action) = actions.iter().find(|a| a.id == action_id) else {
        return Err(TriageError::NotOffered {
            offered: offered(&actions),
        });
    };
    client
        .trigger_workflow_commented(uuid, &action.id, comment)
        .await?;
    tracing::info!(alert = uuid, action = %action.name, "workflow action applied in Sekoia.io");
    read_back(client, writer, uuid).await
}

/// The offered action names, cleaned, for an error message.
fn offered(actions: &[crate::net::sekoia::WorkflowAction]) -> String {
    let names: Vec<String> = actions
        .iter()
        .map(|a| cap(strip_controls(&a.name).trim(), 40))
        .collect();
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        cap(&names.join(", "), 200)
    }
}

/// Re-reads the alert after a change and records it: the feed shows the
/// status Sekoia.io now reports. If reading it back fails, the alert's
/// next `updated` event brings it.
async fn read_back(
    client: &Client,
    writer: &Writer,
    uuid: &str,
) -> Result<Acknowledged, TriageError> {
    match client.get_alert(uuid).await {
        Ok(alert) => {
            let status = alert.status.as_ref().and_then(|s| s.name.clone());
            writer.record(vec![alert], Vec::new(), Vec::new()).await?;
            Ok(Acknowledged { status })
        }
        Err(e) => {
            tracing::warn!(alert = uuid, error = %e, "acknowledged, but the new status could not be read back");
            Ok(Acknowledged { status: None })
        }
    }
}

/// [`acknowledge`] as the desktop pop-up's "Acknowledge" button calls it:
/// the answer is a sentence either way.
pub fn acknowledger(client: Client, writer: Writer) -> Acknowledger {
    Arc::new(move |uuid: String| {
        let (client, writer) = (client.clone(), writer.clone());
        Box::pin(async move {
            match acknowledge(&client, &writer, &uuid).await {
                Ok(done) => Ok(match done.status {
                    Some(status) => format!("Acknowledged in Sekoia.io; status: {status}."),
                    None => "Acknowledged in Sekoia.io.".to_owned(),
                }),
                Err(e) => {
                    tracing::warn!(alert = %uuid, error = %e, "acknowledge failed");
                    Err(e.to_string())
                }
            }
        })
    })
}

pub mod detail;

#[cfg(test)]
mod tests;
