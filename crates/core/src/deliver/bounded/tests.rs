//! A real desktop sink (zbus, a private `dbus-daemon`, the fake
//! notification server) behind `Bounded`, with the server wedged.

use super::*;
use crate::deliver::notify::desktop::{Desktop, Opener};
use crate::deliver::notify::{PopupKind, Urgency};
use fake_notifications::{Bus, Server};
use url::Url;

fn popup(key: &str) -> Popup {
    Popup {
        kind: PopupKind::Alert,
        key: key.to_owned(),
        summary: format!("Alert {key}"),
        lines: vec!["Urgency 85 (Urgent)".into()],
        urgency: Urgency::Critical,
        link: None,
        ..Popup::default()
    }
}

fn config() -> BoundedConfig {
    BoundedConfig {
        deadline: Duration::from_millis(300),
        rest: Duration::from_millis(700),
    }
}

fn desktop(bus: &Bus) -> Arc<dyn Sink> {
    let app = Url::parse("https://app.sekoia.io").expect("url");
    Arc::new(Desktop::at_address(
        app,
        Opener::Command("/bin/true".into()),
        bus.address.clone(),
    ))
}

#[tokio::test]
async fn a_server_that_never_answers_notify_is_given_up_then_retried() {
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["body"]).await;
    let sink = Bounded::new(desktop(&bus), config());
    let health = sink.health();
    sink.show(&popup("first")).await.expect("a working server");
    assert_eq!(*health.borrow(), PopupHealth::Ok);

    server.set_hanging(true);
    let started = std::time::Instant::now();
    let err = sink.show(&popup("stalled")).await.unwrap_err();
    // Bounded: without the deadline this call never returns.
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(matches!(err, NotifyError::TimedOut { .. }), "{err}");
    assert!(err.to_string().contains("did not answer within"), "{err}");
    let failing = health.borrow().clone();
    let warning = failing.warning().expect("a warning while failing");
    assert!(warning.contains("Pop-ups are not shown"), "{warning}");
    assert!(warning.contains("did not answer"), "{warning}");

    // Resting: the next pop-up is given up without asking the server.
    let calls = server.calls().len();
    let err = sink.show(&popup("resting")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Resting { .. }), "{err}");
    assert_eq!(server.calls().len(), calls, "no call while resting");

    // The server behaves again: the first pop-up after the rest is shown.
    server.set_hanging(false);
    tokio::time::sleep(config().rest).await;
    sink.show(&popup("recovered"))
        .await
        .expect("shown after the rest");
    assert_eq!(server.last().summary, "Alert recovered");
    assert_eq!(*health.borrow(), PopupHealth::Ok);
}

#[tokio::test]
async fn a_server_that_never_answers_its_capabilities_is_given_up() {
    // An activatable service that never comes up: the first call (asking
    // the capabilities while connecting) gets no answer.
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["body"]).await;
    server.set_hanging(true);
    let sink = Bounded::new(desktop(&bus), config());
    let started = std::time::Instant::now();
    let err = sink.show(&popup("first")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(matches!(err, NotifyError::TimedOut { .. }), "{err}");
    assert!(matches!(
        *sink.health().borrow(),
        PopupHealth::Failing { .. }
    ));

    server.set_hanging(false);
    tokio::time::sleep(config().rest).await;
    sink.show(&popup("second")).await.expect("connects now");
    assert_eq!(server.last().summary, "Alert second");
}

#[tokio::test]
async fn closing_a_pop_up_on_a_server_that_never_answers_is_given_up() {
    let bus = Bus::start();
    let server = Server::with_capabilities(&bus.address, &["body"]).await;
    let sink = Bounded::new(desktop(&bus), config());
    sink.show(&popup("shown")).await.expect("a working server");
    server.set_hanging(true);
    let started = std::time::Instant::now();
    let err = sink.withdraw("shown").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(err.to_string().contains("closing a pop-up"), "{err}");
    assert!(matches!(
        *sink.health().borrow(),
        PopupHealth::Failing { .. }
    ));
}
