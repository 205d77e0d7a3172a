//! The Alert API reads behind the feed's detail pane (DESIGN.md §4): one
//! alert with its history (`GET /v1/sic/alerts/{uuid}?history=true`), its
//! comments (`GET /v1/sic/alerts/{uuid}/comments`), and a community's name
//! (`GET /v1/communities/{uuid}`). Shapes as Sekoia.io's own fixtures give
//! them; every field optional and a wrongly typed one reads as `None`.
//!
//! Must not: retry or limit on its own (every call goes through the
//! client's limiter, retries and breaker), or keep any state.

use super::{array_in, is_uuid, lenient, parse_alert, Alert, Client, SekoiaError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An alert as the detail pane reads it: the fields the feed uses plus its
/// description, last sighting, community and history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertRecord {
    pub alert: Alert,
    /// `details`, else the rule's `description` (empty strings read as none).
    pub description: Option<String>,
    /// RFC 3339, as sent (`last_seen_at`).
    pub last_seen_at: Option<String>,
    /// The community the alert belongs to (`community_uuid`).
    pub community_uuid: Option<String>,
    /// Status changes, newest first, from `history` entries of type `alert`.
    pub history: Vec<StatusChange>,
}

/// One status change of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Epoch seconds (`created_at` of the history entry).
    pub at: Option<i64>,
    pub status: Option<String>,
    pub previous: Option<String>,
    /// Who made it: `user`, `apikey`, `application`…
    pub by_type: Option<String>,
    /// The comment given with the change, if any (`history_comments`).
    pub comment: Option<String>,
}

/// One comment (`GET /v1/sic/alerts/{uuid}/comments` item).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    #[serde(default, deserialize_with = "lenient")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub content: Option<String>,
    /// A name ("Sekoia's security analysts") or `user:<uuid>`/`apikey:<uuid>`.
    #[serde(default, deserialize_with = "lenient")]
    pub author: Option<String>,
    /// Epoch seconds (sent as a number, sometimes with a fraction).
    #[serde(default, deserialize_with = "lenient_epoch")]
    pub date: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub created_by_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct RecordFields {
    #[serde(default, deserialize_with = "lenient")]
    details: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    rule: Option<RuleFields>,
    #[serde(default, deserialize_with = "lenient")]
    last_seen_at: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    community_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    history: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
struct RuleFields {
    #[serde(default, deserialize_with = "lenient")]
    description: Option<String>,
}

#[derive(Deserialize, Default)]
struct HistoryFields {
    #[serde(default, deserialize_with = "lenient")]
    entry_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_epoch")]
    created_at: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    created_by_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    alert: Option<StatusFields>,
    #[serde(default, deserialize_with = "lenient")]
    history_comments: Option<Vec<Comment>>,
}

#[derive(Deserialize, Default)]
struct StatusFields {
    #[serde(default, deserialize_with = "lenient")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    previous_status: Option<String>,
}

/// Epoch seconds sent as an integer or a float.
fn lenient_epoch<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    Ok(value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Reads an alert answer fetched with `history=true` (pure; the unit tests
/// and the client share it).
pub fn parse_record(body: Value) -> Result<AlertRecord, SekoiaError> {
    let fields: RecordFields = serde_json::from_value(body.clone()).unwrap_or_default();
    let alert = parse_alert(body)?;
    let mut history: Vec<StatusChange> = fields
        .history
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<HistoryFields>(entry).ok())
        .filter(|h| h.entry_type.as_deref() == Some("alert"))
        .map(|h| StatusChange {
            at: h.created_at,
            status: h.alert.as_ref().and_then(|a| a.status.clone()),
            previous: h.alert.and_then(|a| a.previous_status),
            by_type: h.created_by_type,
            comment: h
                .history_comments
                .unwrap_or_default()
                .into_iter()
                .find_map(|c| non_empty(c.content)),
        })
        .collect();
    history.sort_by_key(|h| std::cmp::Reverse(h.at));
    Ok(AlertRecord {
        alert,
        description: non_empty(fields.details)
            .or_else(|| non_empty(fields.rule.and_then(|r| r.description))),
        last_seen_at: fields.last_seen_at,
        community_uuid: fields.community_uuid.filter(|u| is_uuid(u)),
        history,
    })
}

/// Reads a comments answer: `{"items": [...]}` or a bare array; entries
/// that are not objects are skipped. Newest first.
pub fn parse_comments(body: Value) -> Result<Vec<Comment>, SekoiaError> {
    let items = array_in(body, "items", "the alert's comments")?;
    let mut comments: Vec<Comment> = items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect();
    comments.sort_by_key(|c| std::cmp::Reverse(c.date));
    Ok(comments)
}

impl Client {
    /// `GET /v1/sic/alerts/{uuid}` with its history (no STIX, comments or
    /// countermeasures). 404 is [`SekoiaError::NotFound`].
    pub async fn alert_record(&self, uuid: &str) -> Result<AlertRecord, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self
            .get_json(
                &format!("/v1/sic/alerts/{uuid}"),
                &[
                    ("stix", "false"),
                    ("comments", "false"),
                    ("history", "true"),
                    ("countermeasures", "false"),
                ],
            )
            .await?;
        parse_record(body)
    }

    /// `GET /v1/sic/alerts/{uuid}/comments`, newest first.
    pub async fn comments(&self, uuid: &str) -> Result<Vec<Comment>, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self
            .get_json(&format!("/v1/sic/alerts/{uuid}/comments"), &[])
            .await?;
        parse_comments(body)
    }

    /// `GET /v1/communities/{uuid}`: the community's `name` (`None` when
    /// the answer has none). 404 is [`SekoiaError::NotFound`].
    pub async fn community_name(&self, uuid: &str) -> Result<Option<String>, SekoiaError> {
        if !is_uuid(uuid) {
            return Err(SekoiaError::InvalidUuid);
        }
        let body = self
            .get_json(&format!("/v1/communities/{uuid}"), &[])
            .await?;
        // Some answers wrap the object in `data`.
        let object = body.get("data").filter(|d| d.is_object()).unwrap_or(&body);
        Ok(non_empty(
            object
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_reads_description_history_and_community() {
        let record = parse_record(json!({
            "uuid": "b81d4f27-6c3e-4a95-8f20-1e7c9d3b5a46",
            "title": "Mimikatz",
            "details": "",
            "rule": {"name": "Mimikatz command line", "description": "Credential dumping tool"},
            "last_seen_at": "2026-11-20T08:21:39.000000Z",
            "community_uuid": "3a7f1c2e-8b4d-4e6a-9c1f-2d5e8a0b7c63",
            "history": [
                {"created_at": 1686237009, "entry_type": "alert", "created_by_type": "apikey",
                 "alert": {"status": "Closed", "previous_status": "Pending"},
                 "history_comments": [{"content": "Closed as old", "date": 1686237010}]},
                {"created_at": 1713431780, "entry_type": "comment", "comment": {"content": "x"}},
                {"created_at": 1574343164.5, "entry_type": "alert",
                 "alert": {"status": "Pending", "previous_status": null}},
                "not an object"
            ]
        }))
        .unwrap();
        assert_eq!(
            record.description.as_deref(),
            Some("Credential dumping tool")
        );
        assert_eq!(
            record.community_uuid.as_deref(),
            Some("3a7f1c2e-8b4d-4e6a-9c1f-2d5e8a0b7c63")
        );
        assert_eq!(record.history.len(), 2);
        assert_eq!(record.history[0].status.as_deref(), Some("Closed"));
        assert_eq!(record.history[0].previous.as_deref(), Some("Pending"));
        assert_eq!(record.history[0].comment.as_deref(), Some("Closed as old"));
        assert_eq!(record.history[1].at, Some(1574343164));
        assert_eq!(record.history[1].previous, None);
    }

    #[test]
    fn details_win_over_the_rule_description_and_odd_fields_read_as_none() {
        let record = parse_record(json!({
            "details": "What happened", "rule": {"description": "Rule text"},
            "community_uuid": "not-a-uuid", "history": "nope", "last_seen_at": 12
        }))
        .unwrap();
        assert_eq!(record.description.as_deref(), Some("What happened"));
        assert_eq!(record.community_uuid, None);
        assert!(record.history.is_empty());
        assert_eq!(record.last_seen_at, None);
        assert!(parse_record(json!([1, 2])).is_err());
    }

    #[test]
    fn comments_read_newest_first_from_items_or_an_array() {
        let comments = parse_comments(json!({"items": [
            {"uuid": "a", "content": "older", "author": "user:1", "date": 1686237010, "created_by_type": "user"},
            {"uuid": "b", "content": "newer", "author": "Sekoia's security analysts", "date": 1714653288.25},
            7
        ], "total": 3}))
        .unwrap();
        assert_eq!(comments.len(), 2);
        assert_eq!(comments[0].content.as_deref(), Some("newer"));
        assert_eq!(comments[0].date, Some(1714653288));
        assert_eq!(comments[1].created_by_type.as_deref(), Some("user"));
        assert_eq!(parse_comments(json!([])).unwrap(), Vec::new());
        assert!(parse_comments(json!({"total": 0})).is_err());
        assert!(parse_comments(json!("x")).is_err());
    }
}
