//! Tests of the Sekoia.io client against `fake-sekoia`.

use super::*;
use fake_sekoia::{alert_json, FakeSekoia, Fault};
use serde_json::json;

const A: &str = "5f1c2b3a-0d4e-4f6a-8b9c-0123456789ab";
const B: &str = "6a2d3c4b-1e5f-4a7b-9c0d-123456789abc";
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

/// Small waits so the tests stay quick; the rate test uses the real default.
fn quick_config(fake: &FakeSekoia) -> ClientConfig {
    let mut config = ClientConfig::new(fake.url());
    config.min_interval = Duration::from_millis(5);
    config.retry_base_delay = Duration::from_millis(10);
    config.max_retry_wait = Duration::from_secs(5);
    config.timeout = Duration::from_secs(5);
    config
}

fn client_for(fake: &FakeSekoia, config: ClientConfig) -> Client {
    let key = ApiKey::new(fake.api_key().to_owned()).expect("the fake's key is valid");
    Client::new(config, key).expect("client builds")
}

fn quick_client(fake: &FakeSekoia) -> Client {
    client_for(fake, quick_config(fake))
}

fn uuid_n(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

#[test]
fn api_key_is_trimmed_and_redacted() {
    let key = ApiKey::new("  s3cr3t-key\n".into()).expect("valid");
    assert_eq!(key.expose(), "s3cr3t-key");
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    assert_eq!(key.to_string(), "<redacted>");
}

#[test]
fn api_key_that_is_empty_has_control_characters_or_is_huge_is_refused() {
    for bad in [
        String::new(),
        " \n\t".into(),
        "ab\u{7}cd".into(),
        "ab\ncd".into(),
        "x".repeat(4097),
    ] {
        let err = ApiKey::new(bad.clone()).expect_err("must be refused");
        assert!(
            matches!(err, SekoiaError::InvalidKey { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(ApiKey::new("x".repeat(4096)).is_ok());
}

#[test]
fn uuid_shape_is_checked_strictly() {
    assert!(is_uuid(A));
    assert!(is_uuid(&A.to_uppercase()));
    for bad in [
        "",
        "abc",
        "5f1c2b3a-0d4e-4f6a-8b9c-0123456789a",
        "5f1c2b3a-0d4e-4f6a-8b9c-0123456789abc",
        "5f1c2b3a0d4e-4f6a-8b9c-0123456789abcd",
        "5f1c2b3a-0d4e-4f6a-8b9c-0123456789ag",
        "../../v1/me?x=1&y=2&zz=3456789012345",
        "5f1c2b3a-0d4e-4f6a-8b9c-01234/6789ab",
    ] {
        assert!(!is_uuid(bad), "{bad:?}");
    }
}

#[tokio::test]
async fn requests_carry_the_bearer_key_and_go_under_the_api_path() {
    let fake = FakeSekoia::start().await;
    let mut api = fake.url();
    api.set_path("/api/");
    let client = client_for(&fake, ClientConfig::new(api));
    // The fake only serves /v1: a prefixed path is a 404, but it shows the join.
    let err = client.me().await.expect_err("fake has no /api prefix");
    assert!(matches!(err, SekoiaError::NotFound), "{err:?}");
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/v1/me");
    assert_eq!(
        log[0].authorization.as_deref(),
        Some(format!("Bearer {}", fake.api_key()).as_str())
    );
}

#[tokio::test]
async fn me_returns_the_key_owner() {
    let fake = FakeSekoia::start().await;
    let me = quick_client(&fake).me().await.expect("me");
    assert_eq!(me.email.as_deref(), Some("analyst@example.com"));
    assert_eq!(me.firstname.as_deref(), Some("Ada"));
    assert!(me.uuid.is_some());
    assert_eq!(me.raw["lastname"], "Analyst");
    assert_eq!(fake.requests()[0].path, "/v1/me");
}

#[tokio::test]
async fn get_alert_returns_the_alert_without_extras() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(alert_json(A, "ALi1xY2", "Suspicious login", 75));
    // 75 is "Major" in Sekoia.io's words (60-79).
    let alert = quick_client(&fake).get_alert(A).await.expect("alert");
    assert_eq!(alert.uuid.as_deref(), Some(A));
    assert_eq!(alert.short_id.as_deref(), Some("ALi1xY2"));
    assert_eq!(alert.title.as_deref(), Some("Suspicious login"));
    assert_eq!(alert.urgency_value(), Some(75));
    assert_eq!(
        alert.urgency.as_ref().and_then(|u| u.display.as_deref()),
        Some("Major")
    );
    assert_eq!(
        alert.status.as_ref().and_then(|s| s.name.as_deref()),
        Some("Pending")
    );
    assert!(alert.rule.as_ref().and_then(|r| r.name.as_ref()).is_some());
    assert!(alert.entity.is_some());
    assert_eq!(
        alert.alert_type,
        Some(AlertType {
            category: Some("intrusions".into()),
            value: Some("system-compromise".into())
        })
    );
    assert_eq!(alert.source.as_deref(), Some("10.0.0.12"));
    assert_eq!(alert.target.as_deref(), Some("srv-files-01"));
    assert_eq!(alert.created_at, Some(1_764_380_000));
    assert!(alert.first_seen_at.is_some());

    let log = fake.requests();
    assert_eq!(log[0].path, format!("/v1/sic/alerts/{A}"));
    let query = log[0].query_pairs();
    for flag in ["stix", "comments", "history", "countermeasures"] {
        assert!(
            query.contains(&(flag.to_owned(), "false".to_owned())),
            "{flag} missing from {query:?}"
        );
    }
}

#[tokio::test]
async fn list_alerts_returns_known_alerts_and_omits_unknown_ones() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(alert_json(A, "ALa", "First", 10));
    fake.add_alert(alert_json(B, "ALb", "Second", 90));
    let alerts = quick_client(&fake)
        .list_alerts(&[A, UNKNOWN, B])
        .await
        .expect("list");
    let mut ids: Vec<_> = alerts.iter().filter_map(|a| a.short_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["ALa", "ALb"]);
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/v1/sic/alerts");
    let query = log[0].query_pairs();
    assert!(query.contains(&("match[uuid]".into(), format!("{A},{UNKNOWN},{B}"))));
    assert!(query.contains(&("limit".into(), "100".into())));
}

#[tokio::test]
async fn list_of_250_uuids_is_sent_in_three_calls_and_concatenated() {
    let fake = FakeSekoia::start().await;
    let uuids: Vec<String> = (0..250).map(uuid_n).collect();
    for n in [0, 150, 249] {
        fake.add_alert(alert_json(&uuids[n], &format!("AL{n}"), "t", 50));
    }
    let refs: Vec<&str> = uuids.iter().map(String::as_str).collect();
    let alerts = quick_client(&fake).list_alerts(&refs).await.expect("list");
    let ids: Vec<_> = alerts.iter().filter_map(|a| a.short_id.clone()).collect();
    assert_eq!(ids, ["AL0", "AL150", "AL249"]);
    let log = fake.requests();
    assert_eq!(log.len(), 3);
    let sizes: Vec<usize> = log
        .iter()
        .map(|r| {
            r.query_pairs()
                .into_iter()
                .find(|(k, _)| k == "match[uuid]")
                .map(|(_, v)| v.split(',').count())
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
}

#[tokio::test]
async fn malformed_uuids_are_refused_without_any_request() {
    let fake = FakeSekoia::start().await;
    let client = quick_client(&fake);
    for bad in [
        "../me",
        "abc",
        "",
        &format!("{A}?x=1"),
        &format!("{A}/workflow"),
    ] {
        let err = client.get_alert(bad).await.expect_err("must be refused");
        assert!(matches!(err, SekoiaError::InvalidUuid), "{bad:?}: {err:?}");
    }
    let err = client
        .list_alerts(&[A, "not-a-uuid,other"])
        .await
        .expect_err("must be refused");
    assert!(matches!(err, SekoiaError::InvalidUuid), "{err:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn rejected_keys_are_explained_by_their_code() {
    let fake = FakeSekoia::start().await;
    let client = quick_client(&fake);
    let cases = [
        (Some("T300"), KeyProblem::Invalid, "not a valid key (T300)"),
        (Some("T301"), KeyProblem::Expired, "expired (T301)"),
        (Some("T302"), KeyProblem::Revoked, "revoked (T302)"),
        (
            Some("X999"),
            KeyProblem::Rejected {
                code: Some("X999".into()),
            },
            "refused (X999)",
        ),
    ];
    for (code, problem, words) in cases {
        fake.set_key_status(code);
        let err = client.me().await.expect_err("key refused");
        match &err {
            SekoiaError::KeyRejected { problem: got } => assert_eq!(got, &problem),
            other => panic!("{code:?}: {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.starts_with("Sekoia.io rejected the API key: "),
            "{message}"
        );
        assert!(message.contains(words), "{message}");
        assert!(message.contains("Settings > API keys"), "{message}");
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn a_wrong_key_is_reported_as_invalid() {
    let fake = FakeSekoia::start().await;
    let client = Client::new(
        quick_config(&fake),
        ApiKey::new("not-the-key".into()).expect("valid shape"),
    )
    .expect("client");
    let err = client.me().await.expect_err("wrong key");
    assert!(
        matches!(
            err,
            SekoiaError::KeyRejected {
                problem: KeyProblem::Invalid
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn forbidden_names_the_missing_permission() {
    let fake = FakeSekoia::start().await;
    fake.forbid(true);
    let err = quick_client(&fake).get_alert(A).await.expect_err("403");
    assert!(matches!(err, SekoiaError::Forbidden), "{err:?}");
    assert!(err.to_string().contains("SIC_READ_ALERTS"));
}

#[tokio::test]
async fn unknown_alert_is_not_found() {
    let fake = FakeSekoia::start().await;
    let err = quick_client(&fake)
        .get_alert(UNKNOWN)
        .await
        .expect_err("404");
    assert!(matches!(err, SekoiaError::NotFound), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn too_many_requests_waits_retry_after_then_succeeds() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(alert_json(A, "ALa", "t", 20));
    fake.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: Some(1),
        },
    );
    let alert = quick_client(&fake).get_alert(A).await.expect("retried");
    assert_eq!(alert.short_id.as_deref(), Some("ALa"));
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    let gap = log[1].at.duration_since(log[0].at);
    assert!(gap >= Duration::from_secs(1), "waited only {gap:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_retry_wait() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(alert_json(A, "ALa", "t", 20));
    fake.fail_next(
        1,
        Fault::TooMany {
            retry_after_secs: Some(3600),
        },
    );
    let mut config = quick_config(&fake);
    config.max_retry_wait = Duration::from_millis(300);
    let alert = client_for(&fake, config)
        .get_alert(A)
        .await
        .expect("retried");
    assert_eq!(alert.short_id.as_deref(), Some("ALa"));
    let log = fake.requests();
    let gap = log[1].at.duration_since(log[0].at);
    assert!(gap >= Duration::from_millis(300), "waited only {gap:?}");
    assert!(gap < Duration::from_secs(3600), "the cap was ignored");
}

#[tokio::test]
async fn too_many_requests_on_every_attempt_is_rate_limited() {
    let fake = FakeSekoia::start().await;
    fake.fail_next(
        10,
        Fault::TooMany {
            retry_after_secs: Some(0),
        },
    );
    let err = quick_client(&fake).me().await.expect_err("429");
    match err {
        SekoiaError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::ZERO))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn two_server_errors_then_success_is_a_success() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(alert_json(A, "ALa", "t", 20));
    fake.fail_next(2, Fault::Status(500));
    let alert = quick_client(&fake).get_alert(A).await.expect("retried");
    assert_eq!(alert.uuid.as_deref(), Some(A));
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn server_errors_on_every_attempt_give_up_after_max_attempts() {
    let fake = FakeSekoia::start().await;
    fake.fail_next(100, Fault::Status(503));
    let err = quick_client(&fake).get_alert(A).await.expect_err("5xx");
    assert!(
        matches!(err, SekoiaError::Server { status: 503 }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let fake = FakeSekoia::start().await;
    fake.fail_next(1, Fault::Slow(Duration::from_secs(2)));
    let mut config = quick_config(&fake);
    config.timeout = Duration::from_millis(200);
    config.max_attempts = 1;
    let err = client_for(&fake, config).me().await.expect_err("timeout");
    assert!(matches!(err, SekoiaError::Timeout), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn malformed_json_is_unreadable_and_not_retried() {
    let fake = FakeSekoia::start().await;
    fake.fail_next(1, Fault::Malformed);
    let err = quick_client(&fake)
        .get_alert(A)
        .await
        .expect_err("bad json");
    assert!(matches!(err, SekoiaError::Unreadable { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_list_without_items_is_unreadable() {
    let fake = FakeSekoia::start().await;
    let client = quick_client(&fake);
    for body in [json!({"data": []}), json!([]), json!({"items": {"a": 1}})] {
        fake.fail_next(1, Fault::Json(body.clone()));
        let err = client.list_alerts(&[A]).await.expect_err("wrong shape");
        assert!(
            matches!(err, SekoiaError::Unreadable { .. }),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_alert_with_wrong_typed_fields_still_parses() {
    let fake = FakeSekoia::start().await;
    fake.add_alert(json!({
        "uuid": A,
        "short_id": 42,
        "title": "Still readable",
        "urgency": {"value": 150, "current_value": "high", "display": 3},
        "status": "Pending",
        "rule": {"name": ["x"]},
        "entity": null,
        "alert_type": {"category": "malware", "value": false},
        "source": {"ip": "10.0.0.1"},
        "target": "host",
        "created_at": "yesterday",
        "first_seen_at": 12,
        "brand_new_field": {"nested": true}
    }));
    let alert = quick_client(&fake).get_alert(A).await.expect("lenient");
    assert_eq!(alert.uuid.as_deref(), Some(A));
    assert_eq!(alert.title.as_deref(), Some("Still readable"));
    assert_eq!(alert.short_id, None);
    assert_eq!(alert.urgency, Some(Urgency::default()));
    assert_eq!(alert.urgency_value(), None);
    assert_eq!(alert.status, None);
    assert_eq!(alert.rule, Some(Named { name: None }));
    assert_eq!(alert.entity, None);
    assert_eq!(
        alert.alert_type,
        Some(AlertType {
            category: Some("malware".into()),
            value: None
        })
    );
    assert_eq!(alert.source, None);
    assert_eq!(alert.target.as_deref(), Some("host"));
    assert_eq!(alert.created_at, None);
    assert_eq!(alert.first_seen_at, None);
}

#[test]
fn urgency_value_prefers_the_current_value_and_drops_out_of_range_numbers() {
    let parse = |v: Value| serde_json::from_value::<Alert>(v).expect("lenient");
    let alert = parse(json!({"urgency": {"value": 30, "current_value": 80}}));
    assert_eq!(alert.urgency_value(), Some(80));
    let alert = parse(json!({"urgency": {"value": 30, "current_value": 101}}));
    assert_eq!(alert.urgency_value(), Some(30));
    let alert = parse(json!({"urgency": {"value": -1}}));
    assert_eq!(alert.urgency_value(), None);
    assert_eq!(parse(json!({})), Alert::default());
}

#[tokio::test]
async fn sequential_calls_never_exceed_five_per_second() {
    let fake = FakeSekoia::start().await;
    let client = client_for(&fake, ClientConfig::new(fake.url()));
    for _ in 0..12 {
        client.me().await.expect("me");
    }
    let times: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 12);
    // Six requests inside any window of one second would break the limit.
    for pair in times.windows(6) {
        let span = pair[5].duration_since(pair[0]);
        assert!(span >= Duration::from_secs(1), "6 requests within {span:?}");
    }
}

#[tokio::test]
async fn circuit_opens_after_repeated_failures_and_recovers_after_the_pause() {
    let fake = FakeSekoia::start().await;
    let mut config = quick_config(&fake);
    config.max_attempts = 1;
    config.circuit_failures = 3;
    config.circuit_pause = Duration::from_millis(400);
    let client = client_for(&fake, config);
    let other = client.clone();

    fake.fail_next(3, Fault::Status(500));
    for _ in 0..3 {
        let err = client.me().await.expect_err("500");
        assert!(
            matches!(err, SekoiaError::Server { status: 500 }),
            "{err:?}"
        );
    }
    assert_eq!(fake.requests().len(), 3);

    // Open: both clones fail fast without touching the server.
    for c in [&client, &other] {
        let err = c.me().await.expect_err("open");
        match err {
            SekoiaError::CircuitOpen { remaining } => {
                assert!(remaining <= Duration::from_millis(400))
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fake.requests().len(), 3);

    tokio::time::sleep(Duration::from_millis(450)).await;
    other.me().await.expect("half-open probe succeeds");
    client.me().await.expect("closed again");
    assert_eq!(fake.requests().len(), 5);
}

#[tokio::test]
async fn a_failed_probe_reopens_the_circuit() {
    let fake = FakeSekoia::start().await;
    let mut config = quick_config(&fake);
    config.max_attempts = 1;
    config.circuit_failures = 2;
    config.circuit_pause = Duration::from_millis(300);
    let client = client_for(&fake, config);

    fake.fail_next(3, Fault::Status(502));
    for _ in 0..2 {
        client.me().await.expect_err("502");
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let err = client.me().await.expect_err("probe fails");
    assert!(
        matches!(err, SekoiaError::Server { status: 502 }),
        "{err:?}"
    );
    let err = client.me().await.expect_err("open again");
    assert!(matches!(err, SekoiaError::CircuitOpen { .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    let fake = FakeSekoia::start().await;
    let key = fake.api_key().to_owned();
    let mut config = quick_config(&fake);
    config.max_attempts = 1;
    config.timeout = Duration::from_millis(200);
    let client = client_for(&fake, config);
    let mut errors = Vec::new();

    for code in ["T300", "T301", "T302", "Z1"] {
        fake.set_key_status(Some(code));
        errors.push(client.me().await.expect_err("401"));
    }
    fake.set_key_status(None);
    fake.forbid(true);
    errors.push(client.me().await.expect_err("403"));
    fake.forbid(false);
    errors.push(client.get_alert(UNKNOWN).await.expect_err("404"));
    for fault in [
        Fault::Status(500),
        Fault::Status(418),
        Fault::TooMany {
            retry_after_secs: Some(1),
        },
        Fault::Slow(Duration::from_secs(1)),
        Fault::Malformed,
    ] {
        fake.fail_next(1, fault);
        errors.push(client.me().await.expect_err("fault"));
    }
    errors.push(client.get_alert("bad").await.expect_err("uuid"));
    // A refused connection: a port nobody listens on any more.
    let closed = {
        let probe = FakeSekoia::start().await;
        probe.url()
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut config = ClientConfig::new(closed);
    config.max_attempts = 1;
    let offline = Client::new(config, ApiKey::new(key.clone()).expect("key")).expect("client");
    errors.push(offline.me().await.expect_err("network"));
    errors.push(ApiKey::new(format!("{key}\u{1}")).expect_err("control char"));

    assert!(errors
        .iter()
        .any(|e| matches!(e, SekoiaError::Network { .. })));
    for err in &errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&key), "key leaked: {shown}");
    }
    assert!(!format!("{client:?}").contains(&key));
}

#[tokio::test]
async fn an_abandoned_probe_does_not_keep_the_circuit_shut() {
    let fake = FakeSekoia::start().await;
    let mut config = quick_config(&fake);
    config.max_attempts = 1;
    config.circuit_failures = 1;
    config.circuit_pause = Duration::from_millis(100);
    let client = client_for(&fake, config);

    fake.fail_next(1, Fault::Status(500));
    client.me().await.expect_err("500 opens the circuit");
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The probe hangs on a slow answer and its caller gives up on it.
    fake.fail_next(1, Fault::Slow(Duration::from_secs(2)));
    let abandoned = tokio::time::timeout(Duration::from_millis(200), client.me()).await;
    assert!(abandoned.is_err(), "the probe should still be waiting");
    client.me().await.expect("a new probe is let through");
    assert_eq!(fake.requests().len(), 3);
}

fn alert_created_at(n: usize, created_at: i64) -> serde_json::Value {
    let mut alert = alert_json(&uuid_n(n), &format!("AL{n}"), &format!("alert {n}"), 50);
    alert["created_at"] = json!(created_at);
    alert
}

#[tokio::test]
async fn list_created_pages_oldest_first_within_the_date_range() {
    let fake = FakeSekoia::start().await;
    // Created at 1000, 1010, ... 1240 (25 alerts), added in reverse order.
    for n in (0..25).rev() {
        fake.add_alert(alert_created_at(n, 1000 + 10 * n as i64));
    }
    let client = quick_client(&fake);
    let at = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    let page = client.list_created(at(1050), at(1100), 0).await.unwrap();
    let ids: Vec<_> = page
        .alerts
        .iter()
        .map(|a| a.short_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["AL5", "AL6", "AL7", "AL8", "AL9", "AL10"]);
    assert_eq!(page.total, Some(6));
    // Like the real list API, the fake sends no `has_more`.
    assert_eq!(page.has_more, None);
    let later = client.list_created(at(1050), at(1100), 4).await.unwrap();
    assert_eq!(later.alerts.len(), 2);
    let query = fake.requests()[0].query_pairs();
    assert!(query.contains(&(
        "date[created_at]".into(),
        "1970-01-01T00:17:30Z,1970-01-01T00:18:20Z".into()
    )));
    assert!(query.contains(&("sort".into(), "created_at".into())));
    assert!(query.contains(&("direction".into(), "asc".into())));
    assert!(query.contains(&("limit".into(), "100".into())));
    assert!(query.contains(&("offset".into(), "0".into())));
}

#[test]
fn the_list_parser_refuses_what_is_not_an_alert_list_and_reads_the_rest() {
    for bad in [
        &b""[..],
        b"[]",
        b"{\"items\": {}}",
        b"{\"total\": 3}",
        b"\xff\xfe",
        b"{\"items\": [",
    ] {
        let err = parse_alert_list_bytes(bad).expect_err("must be refused");
        assert!(matches!(err, SekoiaError::Unreadable { .. }), "{err:?}");
    }
    let page = parse_alert_list_bytes(
        br#"{"items": [{"uuid": 7, "title": "t"}], "total": "many", "has_more": true}"#,
    )
    .unwrap();
    assert_eq!(page.alerts[0].title.as_deref(), Some("t"));
    assert_eq!(page.alerts[0].uuid, None);
    assert_eq!(page.total, None);
    assert_eq!(page.has_more, Some(true));
    // An entry that is not an alert costs only itself.
    let page = parse_alert_list_bytes(br#"{"items": [1, {"title": "kept"}, "x"]}"#).unwrap();
    assert_eq!(page.alerts.len(), 1);
    assert_eq!(page.alerts[0].title.as_deref(), Some("kept"));
    assert_eq!((page.items, page.skipped), (3, 2));
}

#[tokio::test]
async fn a_lone_surrogate_in_one_listed_alert_spoils_neither_it_nor_its_neighbours() {
    let fake = FakeSekoia::start().await;
    let client = quick_client(&fake);
    fake.fail_next(
        1,
        Fault::Body(format!(
            r#"{{"items": [{{"uuid": "{A}", "title": "Phishing link clicked \ud83d"}}, {{"uuid": "{B}", "title": "sound \ud83d\ude00"}}], "total": 2}}"#
        )),
    );
    let alerts = client.list_alerts(&[A, B]).await.expect("the page is read");
    let titles: Vec<_> = alerts.iter().map(|a| a.title.as_deref()).collect();
    assert_eq!(
        titles,
        [
            Some("Phishing link clicked \u{fffd}"),
            Some("sound \u{1f600}")
        ]
    );
    // A single GET is read the same way.
    fake.fail_next(
        1,
        Fault::Body(format!(r#"{{"uuid": "{A}", "title": "cut \udc00 low"}}"#)),
    );
    let alert = client.get_alert(A).await.expect("the alert is read");
    assert_eq!(alert.title.as_deref(), Some("cut \u{fffd} low"));
}

// Moved from `model::health` with `ApiHealth::from_result`.
#[test]
fn api_results_map_to_key_rejected_unreachable_or_ok() {
    assert_eq!(ApiHealth::from_result(Ok(())), Some(ApiHealth::Ok));
    assert_eq!(
        ApiHealth::from_result(Err(&SekoiaError::NotFound)),
        Some(ApiHealth::Ok)
    );
    assert_eq!(ApiHealth::from_result(Err(&SekoiaError::InvalidUuid)), None);
    let rejected = ApiHealth::from_result(Err(&SekoiaError::KeyRejected {
        problem: KeyProblem::Expired,
    }));
    assert!(
        matches!(rejected, Some(ApiHealth::KeyRejected { reason }) if reason.contains("rejected"))
    );
    let down = ApiHealth::from_result(Err(&SekoiaError::Timeout));
    assert!(matches!(down, Some(ApiHealth::Unreachable { reason }) if reason.contains("in time")));
}
