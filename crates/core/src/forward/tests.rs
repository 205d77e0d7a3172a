//! Tests of forward payloads and delivery against fake receivers on loopback.

use super::test_receiver::*;
use super::*;
use crate::sekoia::{AlertType, Named, Urgency};
use axum::http::Method;
use serde_json::json;
use std::time::Instant;

const UUID: &str = "5f1c2b3a-0d4e-4f6a-8b9c-0123456789ab";
const HOSTILE: &str = "<!channel> *bold* <https://evil|click> @here & <b>x</b>";

fn full_alert() -> Alert {
    Alert {
        uuid: Some(UUID.into()),
        short_id: Some("ALxyz123".into()),
        title: Some("Suspicious PowerShell execution".into()),
        urgency: Some(Urgency {
            value: Some(70),
            current_value: Some(85),
            display: Some("Major".into()),
        }),
        status: Some(Named {
            name: Some("Pending".into()),
        }),
        rule: Some(Named {
            name: Some("Encoded PowerShell".into()),
        }),
        entity: Some(Named {
            name: Some("Main site".into()),
        }),
        alert_type: Some(AlertType {
            category: Some("intrusions".into()),
            value: Some("system-compromise".into()),
        }),
        source: Some("10.0.0.5".into()),
        target: Some("srv01".into()),
        created_at: Some(1_700_000_000),
        first_seen_at: Some("2023-11-14T22:13:20Z".into()),
        similar: Some(3),
    }
}

fn link() -> url::Url {
    url::Url::parse("https://app.sekoia.io/operations/alerts/ALxyz123").expect("valid URL")
}

fn message<'a>(alert: Option<&'a Alert>, link: &'a url::Url) -> Message<'a> {
    Message {
        kind: "alert",
        action: "created",
        alert,
        uuid: UUID,
        short_id: Some("ALxyz123"),
        link: Some(link),
        summary: None,
    }
}

fn hostile_alert() -> Alert {
    Alert {
        title: Some(HOSTILE.into()),
        rule: Some(Named {
            name: Some("[click](https://evil.example) **now**".into()),
        }),
        entity: Some(Named {
            name: Some("@channel <@U123>".into()),
        }),
        ..Alert::default()
    }
}

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

#[test]
fn kinds_read_and_print_as_in_config() {
    for (text, kind) in [
        ("teams", Kind::Teams),
        ("teams-legacy", Kind::TeamsLegacy),
        ("slack", Kind::Slack),
        ("mattermost", Kind::Mattermost),
        ("webhook", Kind::Webhook),
    ] {
        let parsed: Kind = serde_json::from_value(json!(text)).expect("known kind");
        assert_eq!(parsed, kind);
        assert_eq!(kind.to_string(), text);
    }
    assert!(serde_json::from_value::<Kind>(json!("discord")).is_err());
}

#[test]
fn teams_card_for_a_full_alert_is_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Teams, &message(Some(&alert), &link));
    let expected = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "Suspicious PowerShell execution",
                     "weight": "bolder", "size": "medium", "wrap": true},
                    {"type": "TextBlock", "text": "Urgency: 85 \\(Major\\)",
                     "color": "warning", "weight": "bolder", "wrap": true},
                    {"type": "FactSet", "facts": [
                        {"title": "Status", "value": "Pending"},
                        {"title": "Rule", "value": "Encoded PowerShell"},
                        {"title": "Entity", "value": "Main site"},
                        {"title": "Source", "value": "10\\.0\\.0\\.5"},
                        {"title": "Target", "value": "srv01"},
                        {"title": "Type", "value": "intrusions / system\\-compromise"},
                        {"title": "Short ID", "value": "ALxyz123"},
                    ]},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Open in Sekoia.io",
                             "url": "https://app.sekoia.io/operations/alerts/ALxyz123"}],
            },
        }],
    });
    assert_eq!(body, expected);
}

#[test]
fn teams_card_without_enrichment_shows_the_short_id_and_the_button() {
    let link = link();
    let body = payload(Kind::Teams, &message(None, &link));
    let content = &body["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["version"], "1.4");
    assert_eq!(
        content["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(
        content["body"],
        json!([
            {"type": "TextBlock", "text": "Sekoia\\.io alert created\\: ALxyz123",
             "weight": "bolder", "size": "medium", "wrap": true},
            {"type": "TextBlock", "text": "Urgency: unknown",
             "color": "default", "weight": "bolder", "wrap": true},
            {"type": "FactSet", "facts": [{"title": "Short ID", "value": "ALxyz123"}]},
        ])
    );
    assert_eq!(content["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(content["actions"][0]["url"], link.as_str());
}

#[test]
fn teams_urgency_colour_follows_the_five_bands() {
    let link = link();
    for (value, colour) in [
        (100, "attention"),
        (80, "attention"),
        (79, "warning"),
        (60, "warning"),
        (59, "accent"),
        (40, "accent"),
        (39, "good"),
        (20, "good"),
        (19, "default"),
        (0, "default"),
    ] {
        let alert = Alert {
            urgency: Some(Urgency {
                value: Some(value),
                ..Urgency::default()
            }),
            ..Alert::default()
        };
        let body = payload(Kind::Teams, &message(Some(&alert), &link));
        assert_eq!(
            body["attachments"][0]["content"]["body"][1]["color"], colour,
            "urgency {value}"
        );
    }
}

/// The five words of the scale reach every forwarder: 47 is High and 35
/// Moderate (Sekoia.io's own words), not "Low".
#[test]
fn every_forwarder_words_the_urgency_on_the_five_band_scale() {
    let link = link();
    for (value, word, mattermost) in [
        (91, "Urgent", "#D0021B"),
        (64, "Major", "#F5A623"),
        (47, "High", "#E8C300"),
        (35, "Moderate", "#4A90E2"),
        (5, "Low", "#2EB67D"),
    ] {
        let alert = Alert {
            urgency: Some(Urgency {
                value: Some(value),
                ..Urgency::default()
            }),
            ..Alert::default()
        };
        let msg = message(Some(&alert), &link);
        for kind in [
            Kind::Teams,
            Kind::TeamsLegacy,
            Kind::Slack,
            Kind::Mattermost,
        ] {
            let body = payload(kind, &msg).to_string();
            // Markdown kinds escape the parentheses: look for both forms.
            let plain = format!("{value} ({word})");
            let escaped = format!("{value} \\\\({word}\\\\)");
            assert!(
                body.contains(&plain) || body.contains(&escaped),
                "{kind:?} {value}: {body}"
            );
        }
        let body = payload(Kind::Mattermost, &msg);
        assert_eq!(body["attachments"][0]["color"], mattermost, "{value}");
    }
}

#[test]
fn teams_legacy_for_a_full_alert_is_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::TeamsLegacy, &message(Some(&alert), &link));
    let expected = json!({"text": concat!(
        "**Suspicious PowerShell execution**\n\n",
        "Urgency: 85 \\(Major\\)\n\n",
        "Status: Pending\n\n",
        "Rule: Encoded PowerShell\n\n",
        "Entity: Main site\n\n",
        "Source: 10\\.0\\.0\\.5\n\n",
        "Target: srv01\n\n",
        "Type: intrusions / system\\-compromise\n\n",
        "Short ID: ALxyz123\n\n",
        "[Open in Sekoia.io](https://app.sekoia.io/operations/alerts/ALxyz123)",
    )});
    assert_eq!(body, expected);
}

#[test]
fn teams_legacy_without_enrichment_is_exact() {
    let link = link();
    let body = payload(Kind::TeamsLegacy, &message(None, &link));
    assert_eq!(
        body,
        json!({"text": concat!(
            "**Sekoia\\.io alert created\\: ALxyz123**\n\n",
            "Urgency: unknown\n\n",
            "Short ID: ALxyz123\n\n",
            "[Open in Sekoia.io](https://app.sekoia.io/operations/alerts/ALxyz123)",
        )})
    );
}

#[test]
fn slack_blocks_for_a_full_alert_are_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    let expected = json!({
        "text": "Sekoia.io alert: Suspicious PowerShell execution (urgency 85 (Major))",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                "text": "Suspicious PowerShell execution", "emoji": false}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Urgency*\n85 (Major)"},
                {"type": "mrkdwn", "text": "*Status*\nPending"},
                {"type": "mrkdwn", "text": "*Rule*\nEncoded PowerShell"},
                {"type": "mrkdwn", "text": "*Entity*\nMain site"},
                {"type": "mrkdwn", "text": "*Source*\n10.0.0.5"},
                {"type": "mrkdwn", "text": "*Target*\nsrv01"},
                {"type": "mrkdwn", "text": "*Type*\nintrusions / system-compromise"},
                {"type": "mrkdwn", "text": "*Short ID*\nALxyz123"},
            ]},
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in Sekoia.io", "emoji": false},
                "url": "https://app.sekoia.io/operations/alerts/ALxyz123",
            }]},
        ],
    });
    assert_eq!(body, expected);
}

#[test]
fn slack_blocks_without_enrichment_are_exact() {
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    let expected = json!({
        "text": "Sekoia.io alert: Sekoia.io alert created: ALxyz123 (urgency unknown)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                "text": "Sekoia.io alert created: ALxyz123", "emoji": false}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Urgency*\nunknown"},
                {"type": "mrkdwn", "text": "*Short ID*\nALxyz123"},
            ]},
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in Sekoia.io", "emoji": false},
                "url": "https://app.sekoia.io/operations/alerts/ALxyz123",
            }]},
        ],
    });
    assert_eq!(body, expected);
}

#[test]
fn slack_header_is_capped_at_150_characters() {
    let alert = Alert {
        title: Some("x".repeat(400)),
        ..Alert::default()
    };
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    let header = body["blocks"][0]["text"]["text"].as_str().expect("text");
    assert_eq!(header.chars().count(), 150);
    assert!(header.ends_with('…'));
}

#[test]
fn mattermost_attachment_for_a_full_alert_is_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
    let expected = json!({
        "text": "Sekoia.io alert: **Suspicious PowerShell execution** (urgency 85 \\(Major\\))",
        "attachments": [{
            "fallback": "Sekoia.io alert: Suspicious PowerShell execution (urgency 85 (Major))",
            "color": "#F5A623",
            "title": "Suspicious PowerShell execution",
            "title_link": "https://app.sekoia.io/operations/alerts/ALxyz123",
            "fields": [
                {"short": true, "title": "Urgency", "value": "85 \\(Major\\)"},
                {"short": true, "title": "Status", "value": "Pending"},
                {"short": true, "title": "Rule", "value": "Encoded PowerShell"},
                {"short": true, "title": "Entity", "value": "Main site"},
                {"short": true, "title": "Source", "value": "10\\.0\\.0\\.5"},
                {"short": true, "title": "Target", "value": "srv01"},
                {"short": true, "title": "Type", "value": "intrusions / system\\-compromise"},
                {"short": true, "title": "Short ID", "value": "ALxyz123"},
            ],
        }],
    });
    assert_eq!(body, expected);
}

#[test]
fn mattermost_attachment_without_enrichment_is_exact() {
    let link = link();
    let body = payload(Kind::Mattermost, &message(None, &link));
    let expected = json!({
        "text": "Sekoia.io alert: **Sekoia\\.io alert created\\: ALxyz123** (urgency unknown)",
        "attachments": [{
            "fallback": "Sekoia.io alert: Sekoia.io alert created: ALxyz123 (urgency unknown)",
            "color": "#8A8A8A",
            "title": "Sekoia\\.io alert created\\: ALxyz123",
            "title_link": "https://app.sekoia.io/operations/alerts/ALxyz123",
            "fields": [
                {"short": true, "title": "Urgency", "value": "unknown"},
                {"short": true, "title": "Short ID", "value": "ALxyz123"},
            ],
        }],
    });
    assert_eq!(body, expected);
}

#[test]
fn webhook_body_carries_the_event_the_alert_and_the_link() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Webhook, &message(Some(&alert), &link));
    assert_eq!(
        body,
        json!({
            "event": {"type": "alert", "action": "created", "uuid": UUID, "short_id": "ALxyz123"},
            "alert": serde_json::to_value(&alert).expect("alert serializes"),
            "url": "https://app.sekoia.io/operations/alerts/ALxyz123",
        })
    );
    let bare = payload(
        Kind::Webhook,
        &Message {
            short_id: None,
            link: None,
            ..message(None, &link)
        },
    );
    assert_eq!(
        bare,
        json!({
            "event": {"type": "alert", "action": "created", "uuid": UUID, "short_id": null},
            "alert": null,
            "url": null,
        })
    );
}

/// Every string in `value`, recursively.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn hostile_text_cannot_mention_link_or_format_in_slack() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    let mrkdwn: Vec<String> = body["blocks"][1]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["text"].as_str().expect("text").to_owned())
        .chain([body["text"].as_str().expect("fallback").to_owned()])
        .collect();
    let all = mrkdwn.join("\n");
    // The header is plain_text, which Slack never parses: kept, mentions broken.
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        HOSTILE.replace('@', "@\u{200B}")
    );
    assert!(all.contains("&lt;!channel&gt;"), "{all}");
    assert!(all.contains("&lt;https://evil|click&gt;"), "{all}");
    assert!(all.contains("&amp; &lt;b&gt;x&lt;/b&gt;"), "{all}");
    for s in mrkdwn {
        for bad in [
            "<!channel>",
            "<https://evil",
            "<@U123>",
            "@here",
            "@channel",
            "*bold*",
            "**now**",
        ] {
            assert!(!s.contains(bad), "{bad:?} survived in {s:?}");
        }
    }
    assert_eq!(
        body["blocks"].as_array().expect("blocks").len(),
        3,
        "no extra blocks"
    );
    assert!(!strings(&body).iter().any(|s| s.contains("@here")));
}

#[test]
fn hostile_text_cannot_mention_link_or_format_in_mattermost_and_teams_legacy() {
    let alert = hostile_alert();
    let link = link();
    for kind in [Kind::Mattermost, Kind::TeamsLegacy] {
        let mut body = payload(kind, &message(Some(&alert), &link));
        let text = strings(&body).join("\n");
        assert!(text.contains("\\<\\!channel\\>"), "{kind}: {text}");
        assert!(text.contains("\\*bold\\*"), "{kind}: {text}");
        assert!(
            text.contains("\\[click\\]\\(https\\://evil\\.example\\)"),
            "{kind}: {text}"
        );
        assert!(text.contains("\\&"), "{kind}: {text}");
        // The fallback is plain text for notifications: never rendered.
        if let Some(attachment) = body.pointer_mut("/attachments/0") {
            attachment["fallback"] = Value::Null;
        }
        for s in strings(&body) {
            for bad in [
                "<!channel>",
                "](https://evil",
                "https://evil",
                "@here",
                "@channel",
                "<b>",
                " *bold* ",
            ] {
                assert!(!s.contains(bad), "{kind}: {bad:?} survived in {s:?}");
            }
        }
    }
}

#[test]
fn hostile_text_in_a_teams_card_is_plain_text_with_no_markdown_link() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Teams, &message(Some(&alert), &link));
    let content = &body["attachments"][0]["content"];
    let title = content["body"][0]["text"].as_str().expect("title");
    assert_eq!(
        title,
        "\\<\\!channel\\> \\*bold\\* \\<https\\://evil\\|click\\> @\u{200B}here \\& \\<b\\>x\\<\\/b\\>"
            .replace("\\/", "/")
    );
    for s in strings(content) {
        for bad in [
            "](https://evil",
            "https://evil",
            "@here",
            "@channel",
            "**now**",
            "<b>",
        ] {
            assert!(!s.contains(bad), "{bad:?} survived in {s:?}");
        }
    }
    assert_eq!(
        content["body"].as_array().expect("body").len(),
        3,
        "no extra elements"
    );
    assert_eq!(content["actions"].as_array().expect("actions").len(), 1);
    assert_eq!(content["actions"][0]["url"], link.as_str());
}

#[test]
fn control_characters_are_stripped_and_values_capped() {
    let alert = Alert {
        title: Some("line1\nline2\u{202E}\u{7}".into()),
        rule: Some(Named {
            name: Some("r".repeat(1000)),
        }),
        ..Alert::default()
    };
    let link = link();
    let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
    assert_eq!(body["attachments"][0]["title"], "line1line2");
    let rule = body["attachments"][0]["fields"][1]["value"]
        .as_str()
        .expect("rule");
    assert_eq!(rule.chars().count(), VALUE_MAX_CHARS);
}

// ---------------------------------------------------------------------------
// Delivery against fake receivers
// ---------------------------------------------------------------------------

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_wait: Duration::from_secs(5),
        timeout: Duration::from_millis(500),
    }
}

fn quick_poster() -> Poster {
    Poster::with_policy(quick_policy()).expect("poster builds")
}

fn dest(kind: Kind, receiver: &Receiver, secret: Option<&str>) -> Destination {
    Destination {
        kind,
        url: Secret::new(receiver.url()),
        secret: secret.map(|s| Secret::new(s.to_owned())),
    }
}

fn assert_no_url(err: &ForwardError) {
    for shown in [err.to_string(), format!("{err:?}")] {
        for secret in ["s3cr3t", "workflows", "triggers", "qs-"] {
            assert!(!shown.contains(secret), "{secret:?} leaked in {shown}");
        }
    }
}

#[tokio::test]
async fn each_kind_is_posted_as_json_with_its_exact_body() {
    let receiver = Receiver::start(&[]).await;
    let alert = full_alert();
    let link = link();
    let poster = quick_poster();
    let kinds = [
        Kind::Teams,
        Kind::TeamsLegacy,
        Kind::Slack,
        Kind::Mattermost,
        Kind::Webhook,
    ];
    for kind in kinds {
        let body = payload(kind, &message(Some(&alert), &link));
        poster
            .deliver(&dest(kind, &receiver, None), &body)
            .await
            .expect("delivered");
    }
    let log = receiver.log();
    assert_eq!(log.len(), kinds.len());
    for (kind, got) in kinds.iter().zip(&log) {
        assert_eq!(got.method, Method::POST);
        assert_eq!(got.path, SECRET_PATH);
        assert_eq!(got.headers["content-type"], "application/json");
        assert!(
            got.headers.get(SIGNATURE_HEADER).is_none(),
            "unsigned without a secret"
        );
        let received: Value = serde_json::from_slice(&got.body).expect("JSON body");
        assert_eq!(received, payload(*kind, &message(Some(&alert), &link)));
    }
}

#[tokio::test]
async fn signed_webhook_verifies_at_the_receiver_with_the_right_secret() {
    let receiver = Receiver::start(&[]).await;
    *receiver.state.verify_with.lock().expect("lock") = Some(b"shared-key".to_vec());
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Webhook, &message(Some(&alert), &link));
    quick_poster()
        .deliver(&dest(Kind::Webhook, &receiver, Some("shared-key")), &body)
        .await
        .expect("the receiver accepts the signature");
    let log = receiver.log();
    assert_eq!(log.len(), 1);
    let header = log[0].headers[SIGNATURE_HEADER].to_str().expect("ascii");
    let hex_part = header.strip_prefix("sha256=").expect("prefixed");
    assert_eq!(hex_part.len(), 64);
    assert!(
        hex_part.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{header}"
    );
    assert_eq!(
        header,
        signature(b"shared-key", &log[0].body).expect("signs"),
        "computed over the exact bytes sent"
    );
}

#[tokio::test]
async fn signed_webhook_with_the_wrong_secret_is_rejected_and_not_retried() {
    let receiver = Receiver::start(&[]).await;
    *receiver.state.verify_with.lock().expect("lock") = Some(b"shared-key".to_vec());
    let link = link();
    let body = payload(Kind::Webhook, &message(None, &link));
    let err = quick_poster()
        .deliver(&dest(Kind::Webhook, &receiver, Some("wrong-key")), &body)
        .await
        .expect_err("the receiver refuses");
    assert!(
        matches!(err, ForwardError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(receiver.log().len(), 1);
    assert_no_url(&err);
}

#[tokio::test]
async fn a_secret_only_signs_webhooks() {
    let receiver = Receiver::start(&[]).await;
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    quick_poster()
        .deliver(&dest(Kind::Slack, &receiver, Some("k")), &body)
        .await
        .expect("delivered");
    assert!(receiver.log()[0].headers.get(SIGNATURE_HEADER).is_none());
}

#[tokio::test]
async fn too_many_requests_waits_retry_after_then_delivers_once() {
    let receiver = Receiver::start(&[
        Reply::TooMany {
            retry_after_secs: 1,
        },
        Reply::Ok,
    ])
    .await;
    let link = link();
    let body = payload(Kind::Teams, &message(None, &link));
    quick_poster()
        .deliver(&dest(Kind::Teams, &receiver, None), &body)
        .await
        .expect("delivered after the wait");
    let log = receiver.log();
    assert_eq!(log.len(), 2);
    let gap = log[1].at - log[0].at;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
    assert_eq!(log[0].body, log[1].body, "the same bytes again");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_wait() {
    let receiver = Receiver::start(&[
        Reply::TooMany {
            retry_after_secs: 3600,
        },
        Reply::Ok,
    ])
    .await;
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    let poster = Poster::with_policy(RetryPolicy {
        max_wait: Duration::from_millis(200),
        ..quick_policy()
    })
    .expect("poster builds");
    let started = Instant::now();
    poster
        .deliver(&dest(Kind::Slack, &receiver, None), &body)
        .await
        .expect("delivered");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(receiver.log().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered() {
    let receiver = Receiver::start(&[Reply::Status(500), Reply::Status(500), Reply::Ok]).await;
    let link = link();
    let body = payload(Kind::Mattermost, &message(None, &link));
    quick_poster()
        .deliver(&dest(Kind::Mattermost, &receiver, None), &body)
        .await
        .expect("delivered on the third attempt");
    assert_eq!(receiver.log().len(), 3);
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let receiver = Receiver::start(&[Reply::Status(400)]).await;
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    let err = quick_poster()
        .deliver(&dest(Kind::Slack, &receiver, None), &body)
        .await
        .expect_err("permanent");
    assert!(
        matches!(err, ForwardError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(receiver.log().len(), 1);
    assert!(
        err.to_string().contains("127.0.0.1"),
        "names the host: {err}"
    );
    assert_no_url(&err);
}

#[tokio::test]
async fn a_destination_that_always_fails_gives_up_after_max_attempts() {
    let receiver = Receiver::start(&[]).await;
    *receiver.state.otherwise.lock().expect("lock") = Some(Reply::Status(503));
    let link = link();
    let body = payload(Kind::Teams, &message(None, &link));
    let poster = Poster::with_policy(RetryPolicy {
        max_attempts: 3,
        ..quick_policy()
    })
    .expect("poster builds");
    let err = poster
        .deliver(&dest(Kind::Teams, &receiver, None), &body)
        .await
        .expect_err("gives up");
    match &err {
        ForwardError::GaveUp { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, ForwardError::Server { status: 503, .. }),
                "{last:?}"
            );
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(receiver.log().len(), 3);
    assert_no_url(&err);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let receiver = Receiver::start(&[Reply::Slow(Duration::from_secs(2)), Reply::Ok]).await;
    let link = link();
    let body = payload(Kind::Webhook, &message(None, &link));
    quick_poster()
        .deliver(&dest(Kind::Webhook, &receiver, None), &body)
        .await
        .expect("delivered on the second attempt");
    assert_eq!(receiver.log().len(), 2);
}

#[tokio::test]
async fn a_slow_destination_gives_up_with_a_timeout_that_hides_the_url() {
    let receiver = Receiver::start(&[]).await;
    *receiver.state.otherwise.lock().expect("lock") = Some(Reply::Slow(Duration::from_secs(2)));
    let link = link();
    let body = payload(Kind::Webhook, &message(None, &link));
    let poster = Poster::with_policy(RetryPolicy {
        max_attempts: 2,
        timeout: Duration::from_millis(200),
        ..quick_policy()
    })
    .expect("poster builds");
    let err = poster
        .deliver(&dest(Kind::Webhook, &receiver, Some("k")), &body)
        .await
        .expect_err("gives up");
    assert!(
        matches!(&err, ForwardError::GaveUp { attempts: 2, last, .. } if matches!(**last, ForwardError::Timeout { .. })),
        "{err:?}"
    );
    assert_no_url(&err);
}

#[tokio::test]
async fn an_unreachable_destination_gives_up_with_a_network_error_that_hides_the_url() {
    let receiver = Receiver::start(&[]).await;
    let url = receiver.url();
    drop(receiver);
    // Give the aborted server a moment to release the port.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let destination = Destination {
        kind: Kind::Slack,
        url: Secret::new(url),
        secret: None,
    };
    let poster = Poster::with_policy(RetryPolicy {
        max_attempts: 2,
        ..quick_policy()
    })
    .expect("poster builds");
    let link = link();
    let err = poster
        .deliver(&destination, &payload(Kind::Slack, &message(None, &link)))
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(&err, ForwardError::GaveUp { attempts: 2, last, .. } if matches!(**last, ForwardError::Network { .. })),
        "{err:?}"
    );
    assert_no_url(&err);
}

#[tokio::test]
async fn a_destination_that_is_not_http_is_refused_before_sending() {
    let destination = Destination {
        kind: Kind::Webhook,
        url: Secret::new(url::Url::parse("file:///etc/s3cr3t").expect("valid URL")),
        secret: None,
    };
    let err = quick_poster()
        .deliver(&destination, &json!({}))
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ForwardError::InvalidDestination { .. }),
        "{err:?}"
    );
    assert_no_url(&err);
}

#[test]
fn destinations_never_show_their_url_or_secret() {
    let destination = Destination {
        kind: Kind::Webhook,
        url: Secret::new(url::Url::parse("https://hooks.example/s3cr3t").expect("valid URL")),
        secret: Some(Secret::new("s3cr3t-key".into())),
    };
    let shown = format!("{destination:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert_eq!(destination.url.to_string(), "<redacted>");
    assert_eq!(destination.host(), "hooks.example");
    let parsed: Secret<url::Url> =
        serde_json::from_value(json!("https://hooks.example/x")).expect("deserializes");
    assert_eq!(parsed.expose().as_str(), "https://hooks.example/x");
}
