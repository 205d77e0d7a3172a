//! Tests of forward payloads and delivery against fake receivers on loopback.

use super::test_receiver::*;
use super::*;
use crate::net::sekoia::{AlertType, Named, Urgency};
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
        ..Alert::default()
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

/// One fact of a Teams card: our label in bold, the value as plain text.
fn teams_row(label: &str, value: &str) -> Value {
    json!({"type": "RichTextBlock", "spacing": "small", "inlines": [
        {"type": "TextRun", "text": format!("{label}: "), "weight": "bolder"},
        {"type": "TextRun", "text": value},
    ]})
}

fn teams_head(title: &str, urgency: &str, colour: &str) -> [Value; 2] {
    [
        json!({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": title, "weight": "bolder", "size": "medium"},
        ]}),
        json!({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": "Urgency: ", "weight": "bolder", "color": colour},
            {"type": "TextRun", "text": urgency, "weight": "bolder", "color": colour},
        ]}),
    ]
}

/// Every value of the content, as the client shows it: the card's text.
fn card_content(body: &Value) -> &Value {
    &body["attachments"][0]["content"]
}

#[test]
fn teams_card_for_a_full_alert_is_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Teams, &message(Some(&alert), &link));
    let mut rows = teams_head("Suspicious PowerShell execution", "85 (Major)", "warning").to_vec();
    for (label, value) in [
        ("Status", "Pending"),
        ("Rule", "Encoded PowerShell"),
        ("Entity", "Main site"),
        ("Source", "10.0.0.5"),
        ("Target", "srv01"),
        ("Type", "intrusions / system-compromise"),
        ("Short ID", "ALxyz123"),
    ] {
        rows.push(teams_row(label, value));
    }
    let expected = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": rows,
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
    let content = card_content(&body);
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["version"], "1.4");
    let mut expected =
        teams_head("Sekoia.io alert created: ALxyz123", "unknown", "default").to_vec();
    expected.push(teams_row("Short ID", "ALxyz123"));
    assert_eq!(content["body"], json!(expected));
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
        let inlines = &card_content(&body)["body"][1]["inlines"];
        assert_eq!(inlines[0]["color"], colour, "urgency {value}");
        assert_eq!(inlines[1]["color"], colour, "urgency {value}");
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
            // No kind escapes parentheses any more: the words read as is.
            assert!(
                body.contains(&format!("{value} ({word})")),
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
        "Urgency: 85 (Major)\n\n",
        "Status: Pending\n\n",
        "Rule: Encoded PowerShell\n\n",
        "Entity: Main site\n\n",
        "Source: 10.0.0.5\n\n",
        "Target: srv01\n\n",
        "Type: intrusions / system-compromise\n\n",
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
            "**Sekoia.io alert created: ALxyz123**\n\n",
            "Urgency: unknown\n\n",
            "Short ID: ALxyz123\n\n",
            "[Open in Sekoia.io](https://app.sekoia.io/operations/alerts/ALxyz123)",
        )})
    );
}

/// A Slack label (our words, mrkdwn) and its value (plain_text).
fn slack_pair(label: &str, value: &str) -> [Value; 2] {
    [
        json!({"type": "mrkdwn", "text": format!("*{label}*")}),
        json!({"type": "plain_text", "text": value, "emoji": false}),
    ]
}

fn slack_button() -> Value {
    json!({"type": "actions", "elements": [{
        "type": "button",
        "text": {"type": "plain_text", "text": "Open in Sekoia.io", "emoji": false},
        "url": "https://app.sekoia.io/operations/alerts/ALxyz123",
    }]})
}

#[test]
fn slack_blocks_for_a_full_alert_are_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    let pairs: Vec<Value> = [
        ("Urgency", "85 (Major)"),
        ("Status", "Pending"),
        ("Rule", "Encoded PowerShell"),
        ("Entity", "Main site"),
        ("Source", "10.0.0.5"),
        ("Target", "srv01"),
        ("Type", "intrusions / system-compromise"),
        ("Short ID", "ALxyz123"),
    ]
    .iter()
    .flat_map(|(l, v)| slack_pair(l, v))
    .collect();
    let expected = json!({
        "text": "Sekoia.io alert: Suspicious PowerShell execution (urgency 85 (Major))",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                "text": "Suspicious PowerShell execution", "emoji": false}},
            {"type": "section", "fields": pairs[..10]},
            {"type": "section", "fields": pairs[10..]},
            slack_button(),
        ],
    });
    assert_eq!(body, expected);
}

#[test]
fn slack_blocks_without_enrichment_are_exact() {
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    let mut fields = slack_pair("Urgency", "unknown").to_vec();
    fields.extend(slack_pair("Short ID", "ALxyz123"));
    let expected = json!({
        "text": "Sekoia.io alert: Sekoia.io alert created: ALxyz123 (urgency unknown)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                "text": "Sekoia.io alert created: ALxyz123", "emoji": false}},
            {"type": "section", "fields": fields},
            slack_button(),
        ],
    });
    assert_eq!(body, expected);
}

#[test]
fn mattermost_attachment_for_a_full_alert_is_exact() {
    let alert = full_alert();
    let link = link();
    let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
    let expected = json!({
        "text": "Sekoia.io alert: **Suspicious PowerShell execution** (urgency 85 (Major))",
        "attachments": [{
            "fallback": "Sekoia.io alert: Suspicious PowerShell execution (urgency 85 (Major))",
            "color": "#F5A623",
            "title": "Suspicious PowerShell execution",
            "title_link": "https://app.sekoia.io/operations/alerts/ALxyz123",
            "fields": [
                {"short": true, "title": "Urgency", "value": "85 (Major)"},
                {"short": true, "title": "Status", "value": "Pending"},
                {"short": true, "title": "Rule", "value": "Encoded PowerShell"},
                {"short": true, "title": "Entity", "value": "Main site"},
                {"short": true, "title": "Source", "value": "10.0.0.5"},
                {"short": true, "title": "Target", "value": "srv01"},
                {"short": true, "title": "Type", "value": "intrusions / system-compromise"},
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
        "text": "Sekoia.io alert: **Sekoia.io alert created: ALxyz123** (urgency unknown)",
        "attachments": [{
            "fallback": "Sekoia.io alert: Sekoia.io alert created: ALxyz123 (urgency unknown)",
            "color": "#8A8A8A",
            "title": "Sekoia.io alert created: ALxyz123",
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

/// Every string in `value`, recursively, owned.
fn all_strings(value: &Value) -> Vec<String> {
    strings(value).into_iter().map(str::to_owned).collect()
}

#[test]
fn hostile_text_cannot_mention_link_or_format_in_slack() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    // Slack parses only mrkdwn: our labels and the fallback `text`.
    let mut mrkdwn = vec![body["text"].as_str().expect("fallback").to_owned()];
    let mut plain = Vec::new();
    for block in body["blocks"].as_array().expect("blocks") {
        for field in block["fields"].as_array().into_iter().flatten() {
            let text = field["text"].as_str().expect("text").to_owned();
            match field["type"].as_str() {
                Some("mrkdwn") => mrkdwn.push(text),
                _ => plain.push(text),
            }
        }
    }
    assert_eq!(
        mrkdwn[0],
        "Sekoia.io alert: &lt;!channel&gt; *bold* &lt;https:\u{200B}//evil|click&gt; @here &amp; &lt;b&gt;x&lt;/b&gt; (urgency unknown)"
    );
    for s in &mrkdwn[1..] {
        assert!(
            ["*Urgency*", "*Rule*", "*Entity*", "*Short ID*"].contains(&s.as_str()),
            "only our labels are mrkdwn: {s:?}"
        );
    }
    for s in &mrkdwn {
        for bad in ["<!channel>", "<https://evil", "<@U123>", "<b>"] {
            assert!(!s.contains(bad), "{bad:?} survived in {s:?}");
        }
    }
    // Untrusted values are plain_text, which Slack never parses: as typed.
    assert_eq!(
        plain,
        [
            "unknown",
            "[click](https:\u{200B}//evil.example) **now**",
            "@channel <@U123>",
            "ALxyz123",
        ]
    );
    assert_eq!(
        body["blocks"][0]["text"],
        json!({"type": "plain_text", "emoji": false,
               "text": HOSTILE.replace("://", ":\u{200B}//")})
    );
    assert_eq!(body.get("link_names"), None, "no mention is ever linked");
    assert_eq!(body.get("parse"), None);
    assert_eq!(body["blocks"].as_array().expect("blocks").len(), 3);
}

#[test]
fn hostile_text_cannot_mention_link_or_format_in_mattermost() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
    let attachment = &body["attachments"][0];
    let z = '\u{200B}';
    // Linked, the title is plain text: not escaped, only neutralised.
    assert_eq!(
        attachment["title"],
        format!("<{z}!channel> *bold* <{z}https:{z}//evil|click> @{z}here & <{z}b>x<{z}/b>")
    );
    assert_eq!(
        attachment["fields"][1]["value"],
        format!("\\[click\\](https:{z}//evil.example) \\*\\*now\\*\\*")
    );
    assert_eq!(
        attachment["fields"][2]["value"],
        format!("@{z}channel <{z}@{z}U123>")
    );
    for s in all_strings(&body) {
        for bad in [
            "<!channel>",
            "](https://evil",
            "https://evil",
            "@here",
            "@channel",
            "<@U123>",
            "<b>",
        ] {
            assert!(!s.contains(bad), "{bad:?} survived in {s:?}");
        }
    }
}

#[test]
fn hostile_text_cannot_link_or_format_in_teams_legacy() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::TeamsLegacy, &message(Some(&alert), &link));
    let text = body["text"].as_str().expect("text");
    assert!(
        text.starts_with(
            "**&lt;!channel> \\*bold\\* &lt;https:\u{200B}//evil|click> @here & &lt;b>x&lt;/b>**"
        ),
        "{text}"
    );
    assert!(
        text.contains("Rule: \\[click\\](https:\u{200B}//evil.example) \\*\\*now\\*\\*"),
        "{text}"
    );
    for bad in ["](https://evil", "https://evil", "<b>", " *bold* "] {
        assert!(!text.contains(bad), "{bad:?} survived in {text:?}");
    }
    let unescaped = text
        .match_indices('[')
        .filter(|(at, _)| !text[..*at].ends_with('\\'));
    assert_eq!(unescaped.count(), 1, "one link, the alert page: {text}");
    assert!(text.ends_with("[Open in Sekoia.io](https://app.sekoia.io/operations/alerts/ALxyz123)"));
}

#[test]
fn a_backslash_cannot_undo_a_teams_legacy_escape() {
    let alert = Alert {
        target: Some(r"\*bold\* C:\Windows".into()),
        ..Alert::default()
    };
    let link = link();
    let body = payload(Kind::TeamsLegacy, &message(Some(&alert), &link));
    let text = body["text"].as_str().expect("text");
    assert!(text.contains(r"Target: \\\*bold\\\* C:\Windows"), "{text}");
}

#[test]
fn hostile_text_in_a_teams_card_is_plain_text_with_no_markdown_link() {
    let alert = hostile_alert();
    let link = link();
    let body = payload(Kind::Teams, &message(Some(&alert), &link));
    let content = card_content(&body);
    let title = &content["body"][0]["inlines"][0];
    assert_eq!(title["type"], "TextRun", "TextRun never renders markdown");
    assert_eq!(title["text"], HOSTILE.replace("://", ":\u{200B}//"));
    for s in all_strings(content) {
        assert!(!s.contains("https://evil"), "a link could form: {s:?}");
    }
    let elements = content["body"].as_array().expect("body");
    assert_eq!(elements.len(), 5, "title, urgency, rule, entity, short id");
    for element in elements {
        assert_eq!(element["type"], "RichTextBlock", "no markdown element");
    }
    assert_eq!(content["actions"].as_array().expect("actions").len(), 1);
    assert_eq!(content["actions"][0]["url"], link.as_str());
    assert!(!body.to_string().contains("msteams"), "no mention entities");
}

#[test]
fn control_characters_are_stripped_and_values_capped() {
    let alert = Alert {
        title: Some("line1\nline2\u{202E}\u{7}".into()),
        rule: Some(Named {
            name: Some("r".repeat(3000)),
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
    assert!(rule.ends_with('…'));
}

// ---------------------------------------------------------------------------
// The hostile cases of issue #23, per client, and the services' limits
// ---------------------------------------------------------------------------

const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Woman technologist: woman + ZWJ + laptop, one grapheme.
const TECHNOLOGIST: &str = "👩\u{200D}💻";
const RTL: &str = "שלום עולם";

fn mail_title() -> String {
    format!("Mail from admin@example.com {}", "y".repeat(200))
}

/// The indicators an analyst copies, one per field.
fn indicator_alert() -> Alert {
    Alert {
        title: Some(mail_title()),
        source: Some(r"C:\Windows\System32".into()),
        target: Some("AT&T 10:00".into()),
        rule: Some(Named {
            name: Some("file_name.exe".into()),
        }),
        entity: Some(Named {
            name: Some(SHA256.into()),
        }),
        alert_type: Some(AlertType {
            category: Some(format!("{TECHNOLOGIST} analyst")),
            value: Some(RTL.into()),
        }),
        ..Alert::default()
    }
}

const INDICATORS: [(&str, &str); 6] = [
    ("Rule", "file_name.exe"),
    ("Entity", SHA256),
    ("Source", r"C:\Windows\System32"),
    ("Target", "AT&T 10:00"),
    ("Type", "👩\u{200D}💻 analyst / שלום עולם"),
    ("Short ID", "ALxyz123"),
];

#[test]
fn slack_shows_indicators_exactly_and_cuts_the_mail_title_to_150() {
    let alert = indicator_alert();
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    // 28 characters, then 121 of the 200, then the ellipsis: 150.
    let header = format!("Mail from admin@example.com {}…", "y".repeat(121));
    assert_eq!(header.chars().count(), 150);
    assert_eq!(body["blocks"][0]["text"]["text"], header);
    let mut fields = slack_pair("Urgency", "unknown").to_vec();
    for (label, value) in INDICATORS {
        fields.extend(slack_pair(label, value));
    }
    let shown: Vec<&Value> = body["blocks"].as_array().expect("blocks")[1..3]
        .iter()
        .flat_map(|b| b["fields"].as_array().expect("a section"))
        .collect();
    assert_eq!(json!(shown), json!(fields));
    assert_eq!(
        body["text"],
        format!("Sekoia.io alert: {} (urgency unknown)", mail_title())
    );
    assert!(
        !body.to_string().contains('\u{200B}'),
        "no zero-width space"
    );
}

#[test]
fn teams_shows_indicators_exactly() {
    let alert = indicator_alert();
    let link = link();
    let body = payload(Kind::Teams, &message(Some(&alert), &link));
    let mut expected = teams_head(&mail_title(), "unknown", "default").to_vec();
    for (label, value) in INDICATORS {
        expected.push(teams_row(label, value));
    }
    assert_eq!(card_content(&body)["body"], json!(expected));
    let legacy = payload(Kind::TeamsLegacy, &message(Some(&alert), &link));
    let text = legacy["text"].as_str().expect("text");
    for line in [
        "Rule: file\\_name.exe",
        &format!("Entity: {SHA256}"),
        r"Source: C:\Windows\System32",
        "Target: AT&T 10:00",
        "Type: 👩\u{200D}💻 analyst / שלום עולם",
    ] {
        assert!(text.contains(line), "{line:?} not in {text}");
    }
}

#[test]
fn mattermost_escapes_only_what_its_engine_reads() {
    let alert = indicator_alert();
    let link = link();
    let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["title"], mail_title(), "linked: plain text");
    let values: Vec<&str> = attachment["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .skip(1)
        .map(|f| f["value"].as_str().expect("value"))
        .collect();
    assert_eq!(
        values,
        [
            "file\\_name.exe",
            SHA256,
            r"C:\Windows\System32",
            "AT&T 10:00",
            "👩\u{200D}💻 analyst / שלום עולם",
            "ALxyz123",
        ]
    );
    assert_eq!(
        body["text"],
        format!("Sekoia.io alert: **{}** (urgency unknown)", mail_title()),
        "an @ inside a word is no mention: left as is"
    );
    // Without a link the title is markdown, so it is escaped.
    let bare = payload(
        Kind::Mattermost,
        &Message {
            link: None,
            summary: Some("*srv-01* @here"),
            ..message(Some(&alert), &link)
        },
    );
    assert_eq!(
        bare["attachments"][0]["title"],
        "\\*srv-01\\* @\u{200B}here"
    );
    assert_eq!(bare["attachments"][0].get("title_link"), None);
}

#[test]
fn a_leading_list_or_quote_marker_is_escaped_for_mattermost() {
    let link = link();
    for (value, shown) in [
        ("- item", "\\- item"),
        ("> quote", "\\> quote"),
        ("1. first", "1\\. first"),
        ("12) twelfth", "12\\) twelfth"),
        ("#tag", "\\#tag"),
        ("a - b > c 1. d", "a - b > c 1. d"),
    ] {
        let alert = Alert {
            target: Some(value.into()),
            ..Alert::default()
        };
        let body = payload(Kind::Mattermost, &message(Some(&alert), &link));
        assert_eq!(
            body["attachments"][0]["fields"][1]["value"], shown,
            "{value}"
        );
    }
}

#[test]
fn emoji_sequences_are_never_cut_inside() {
    let alert = Alert {
        title: Some(TECHNOLOGIST.repeat(100)),
        ..Alert::default()
    };
    let link = link();
    let body = payload(Kind::Slack, &message(Some(&alert), &link));
    let header = body["blocks"][0]["text"]["text"].as_str().expect("header");
    // Each sequence is 5 UTF-16 units: 29 of them and the ellipsis fit 150.
    assert_eq!(header, format!("{}…", TECHNOLOGIST.repeat(29)));
}

/// A 10,000-character title of every markdown, mention and entity special,
/// and every value 3,000 characters of them too.
fn monster_alert() -> Alert {
    let specials = "\\`*_{}[]()#+-.!|>~<&@:/ \"'👩\u{200D}💻";
    let long = |n: usize| specials.chars().cycle().take(n).collect::<String>();
    let named = |n| {
        Some(Named {
            name: Some(long(n)),
        })
    };
    Alert {
        short_id: Some(long(3000)),
        title: Some(long(10_000)),
        status: named(3000),
        rule: named(3000),
        entity: named(3000),
        source: Some(long(3000)),
        target: Some(long(3000)),
        alert_type: Some(AlertType {
            category: Some(long(3000)),
            value: Some(long(3000)),
        }),
        urgency: Some(Urgency {
            value: Some(90),
            display: Some(long(3000)),
            ..Urgency::default()
        }),
        ..Alert::default()
    }
}

fn slack_texts(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in body["blocks"].as_array().expect("blocks") {
        if let Some(text) = block["text"]["text"].as_str() {
            out.push(("header".to_owned(), text.to_owned()));
        }
        for field in block["fields"].as_array().into_iter().flatten() {
            out.push((
                "field".to_owned(),
                field["text"].as_str().expect("text").to_owned(),
            ));
        }
    }
    out
}

#[test]
fn every_kind_keeps_the_services_limits_and_the_link_for_a_monster_alert() {
    let alert = monster_alert();
    let link = link();
    let msg = message(Some(&alert), &link);

    let slack = payload(Kind::Slack, &msg);
    let blocks = slack["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= slack::MAX_BLOCKS);
    for block in blocks {
        let fields = block["fields"].as_array().map_or(0, Vec::len);
        assert!(fields <= slack::FIELDS_PER_SECTION);
    }
    for (what, text) in slack_texts(&slack) {
        let max = if what == "header" {
            slack::HEADER_MAX
        } else {
            slack::FIELD_MAX
        };
        assert!(limit::slack_units(&text) <= max, "{what}: {}", text.len());
        assert!(!text.is_empty());
    }
    let text = slack["text"].as_str().expect("text");
    assert!(limit::slack_units(text) <= slack::TEXT_MAX);
    assert_eq!(
        blocks.last().expect("button")["elements"][0]["url"],
        link.as_str()
    );

    for kind in [Kind::Teams, Kind::TeamsLegacy] {
        let body = payload(kind, &msg);
        let size = serde_json::to_vec(&body).expect("serializes").len();
        assert!(size <= teams::MESSAGE_MAX_BYTES, "{kind}: {size} bytes");
        assert!(
            size > 10_000,
            "{kind}: the texts were kept as far as they fit"
        );
        assert!(
            body.to_string().contains(link.as_str()),
            "{kind}: link kept"
        );
    }

    let mm = payload(Kind::Mattermost, &msg);
    let chars: usize = strings(&mm).into_iter().map(limit::chars).sum();
    assert!(chars <= mattermost::MESSAGE_MAX_CHARS, "{chars}");
    assert!(
        chars > 8_000,
        "the texts were kept as far as they fit: {chars}"
    );
    assert_eq!(mm["attachments"][0]["title_link"], link.as_str());
}

#[test]
fn every_cut_ends_with_an_ellipsis_on_a_grapheme_boundary() {
    use unicode_segmentation::UnicodeSegmentation;
    let alert = monster_alert();
    let link = link();
    let msg = message(Some(&alert), &link);
    let mut texts: Vec<String> = slack_texts(&payload(Kind::Slack, &msg))
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    texts.extend(all_strings(card_content(&payload(Kind::Teams, &msg))));
    for text in texts.iter().filter(|t| t.chars().count() > 100) {
        assert!(text.ends_with('…'), "{text}");
        let last = text
            .graphemes(true)
            .nth_back(1)
            .expect("text before the ellipsis");
        assert!(
            !last.ends_with('\u{200D}') && last != "\u{1F4BB}",
            "cut inside a ZWJ sequence: {last:?}"
        );
    }
}

#[test]
fn a_body_over_its_limit_is_rebuilt_with_halved_texts_until_it_fits() {
    let length = |v: &Value| v.as_str().map_or(usize::MAX, str::len);
    let build = |halvings: u32| json!("x".repeat(1_000 >> halvings));
    assert_eq!(length(&within(300, length, build)), 250, "halved twice");
    assert_eq!(length(&within(1_000, length, build)), 1_000, "as built");
}

/// Microsoft's Adaptive Card schemas, vendored (see schema/README.md).
fn card_schemas() -> [(&'static str, jsonschema::Validator); 2] {
    let compile = |text: &str| {
        let schema: Value = serde_json::from_str(text).expect("the vendored schema is JSON");
        jsonschema::draft6::new(&schema).expect("the vendored schema compiles")
    };
    [
        (
            "1.4",
            compile(include_str!("schema/adaptive-card-1.4.json")),
        ),
        (
            "1.5",
            compile(include_str!("schema/adaptive-card-1.5.json")),
        ),
    ]
}

#[test]
fn every_teams_card_is_valid_against_microsofts_adaptive_card_schema() {
    let schemas = card_schemas();
    let link = link();
    let alerts = [
        full_alert(),
        hostile_alert(),
        indicator_alert(),
        monster_alert(),
    ];
    let mut cards: Vec<Value> = alerts
        .iter()
        .map(|a| payload(Kind::Teams, &message(Some(a), &link)))
        .collect();
    cards.push(payload(Kind::Teams, &message(None, &link)));
    cards.push(payload(
        Kind::Teams,
        &Message {
            link: None,
            ..message(None, &link)
        },
    ));
    for card in &cards {
        let content = card_content(card);
        for (version, schema) in &schemas {
            let errors: Vec<String> = schema
                .iter_errors(content)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "schema {version}: {errors:#?}");
        }
    }
}

#[test]
fn the_schema_check_catches_a_broken_card() {
    let schemas = card_schemas();
    let link = link();
    let mut card = payload(Kind::Teams, &message(None, &link));
    // A TextRun must hold text, and a colour must be one of the seven.
    card["attachments"][0]["content"]["body"][1]["inlines"][0]["color"] = json!("crimson");
    card["attachments"][0]["content"]["body"][0]["inlines"][0]["text"] = json!(42);
    for (version, schema) in &schemas {
        assert!(
            !schema.is_valid(card_content(&card)),
            "schema {version} accepted a broken card"
        );
    }
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
    let hex_part = header.strip_prefix("v1=").expect("prefixed");
    assert_eq!(hex_part.len(), 64);
    assert!(
        hex_part.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{header}"
    );
    let sent_at = log[0].headers[TIMESTAMP_HEADER].to_str().expect("ascii");
    let ts: i64 = sent_at.parse().expect("Unix seconds");
    assert_eq!(
        header,
        signature(b"shared-key", ts, &log[0].body).expect("signs"),
        "computed over the timestamp and the exact bytes sent"
    );
    assert_ne!(
        header,
        signature(b"shared-key", ts - 1, &log[0].body).expect("signs"),
        "the timestamp is signed"
    );
}

#[test]
fn the_documented_check_accepts_a_fresh_signature_and_refuses_a_replay() {
    let body = br#"{"event":{}}"#;
    let key = b"shared-key";
    let sent_at = 1_700_000_000;
    let sig = signature(key, sent_at, body).expect("signs");
    let ts = sent_at.to_string();
    let tolerance = SIGNATURE_TOLERANCE;
    assert_eq!(
        verify(key, &ts, &sig, body, sent_at + 299, tolerance),
        Ok(())
    );
    // The same request replayed ten minutes later.
    assert_eq!(
        verify(key, &ts, &sig, body, sent_at + 600, tolerance),
        Err(VerifyError::Stale { off_s: 600 })
    );
    // A fresh timestamp pasted onto the old signature does not match.
    let later = (sent_at + 600).to_string();
    assert_eq!(
        verify(key, &later, &sig, body, sent_at + 600, tolerance),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify(b"other-key", &ts, &sig, body, sent_at, tolerance),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify(key, "-5", &sig, body, sent_at, tolerance),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        verify(
            key,
            &ts,
            sig.trim_start_matches("v1="),
            body,
            sent_at,
            tolerance
        ),
        Err(VerifyError::Malformed)
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

/// Posts one Slack body to a receiver that answers `reply`; the error.
async fn refused_with(reply: Reply) -> (ForwardError, usize, Receiver) {
    let receiver = Receiver::start(&[reply]).await;
    let link = link();
    let body = payload(Kind::Slack, &message(None, &link));
    let size = serde_json::to_vec(&body).expect("serializes").len();
    let err = quick_poster()
        .deliver(&dest(Kind::Slack, &receiver, None), &body)
        .await
        .expect_err("permanent");
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(receiver.log().len(), 1, "a 4xx is not retried");
    assert_no_url(&err);
    (err, size, receiver)
}

#[tokio::test]
async fn a_bad_request_without_a_reason_is_refused_and_not_retried() {
    let (err, size, _receiver) = refused_with(Reply::Status(400)).await;
    match &err {
        ForwardError::Refused {
            status: 400,
            reason,
            kind: Kind::Slack,
            size: sent,
            ..
        } => {
            assert_eq!(reason, "no reason given");
            assert_eq!(*sent, size);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(
        err.to_string().contains("127.0.0.1"),
        "names the host: {err}"
    );
}

/// Slack answers a payload it cannot take with 400 and a plain code.
#[tokio::test]
async fn slacks_invalid_blocks_says_the_message_was_refused_not_that_the_url_was_deleted() {
    let (err, size, _receiver) = refused_with(Reply::Says(400, "invalid_blocks")).await;
    let shown = err.to_string();
    assert!(
        shown.contains("the message was refused: invalid_blocks"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("a slack message of {size} bytes")),
        "{shown}"
    );
    assert!(shown.contains("bug"), "{shown}");
    assert!(!shown.contains("deleted"), "{shown}");
}

#[tokio::test]
async fn only_a_gone_webhook_suggests_a_deleted_url() {
    for (status, code) in [(404, "no_service"), (410, "channel_is_archived")] {
        let (err, _, _receiver) = refused_with(Reply::Says(status, code)).await;
        assert!(
            matches!(&err, ForwardError::Gone { status: s, reason, .. } if *s == status && reason == code),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(shown.contains("deleted or rotated"), "{shown}");
        assert!(!shown.contains("bug"), "{shown}");
    }
    let (err, _, _receiver) = refused_with(Reply::Says(403, "action_prohibited")).await;
    assert!(
        matches!(&err, ForwardError::Rejected { status: 403, reason, .. } if reason == "action_prohibited"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("deleted"), "{err}");
}

/// A Workflow answers JSON and may quote its own trigger URL: the reason
/// is read from it, the URL never.
#[tokio::test]
async fn a_json_refusal_gives_its_message_without_any_url() {
    let said = r#"{"error":{"code":"TriggerInputSchemaMismatch","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition. See http://127.0.0.1/workflows/s3cr3t-T0KEN/triggers/manual?sig=qs-s3cr3t and /workflows/s3cr3t-T0KEN/triggers/manual"}}"#;
    let (err, _, _receiver) = refused_with(Reply::Says(400, said)).await;
    match &err {
        ForwardError::Refused { reason, .. } => assert_eq!(
            reason,
            "The input body for trigger 'manual' of type 'Request' did not match its schema definition. See and"
        ),
        other => panic!("expected Refused, got {other:?}"),
    }
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

#[test]
fn line_and_paragraph_separators_never_forge_a_line_in_any_kind() {
    let alert = Alert {
        title: Some(
            "Printer offline on floor 2\u{2028}\u{2028}Status: Closed \u{2014} false positive"
                .into(),
        ),
        rule: Some(Named {
            name: Some("rule\u{2029}second\u{85}third".into()),
        }),
        ..Alert::default()
    };
    let link = link();
    // The generic webhook passes the alert on as data (its receiver owns
    // presentation); the chat kinds render it, every field on one line.
    for kind in [
        Kind::Teams,
        Kind::TeamsLegacy,
        Kind::Slack,
        Kind::Mattermost,
    ] {
        let body = payload(kind, &message(Some(&alert), &link));
        let rendered = body.to_string();
        for separator in [
            "\u{2028}", "\u{2029}", "\u{85}", "\\u2028", "\\u2029", "\\u0085",
        ] {
            assert!(
                !rendered.contains(separator),
                "{kind}: {separator:?} in {rendered}"
            );
        }
        if kind == Kind::Slack {
            assert_eq!(
                body["blocks"][0]["text"]["text"],
                "Printer offline on floor 2Status: Closed \u{2014} false positive"
            );
        }
    }
}
