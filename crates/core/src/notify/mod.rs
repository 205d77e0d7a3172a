//! STUB replaced by the real module (helper).
pub enum Urgency {
    Low,
    Normal,
    Critical,
}
pub fn urgency_for(value: Option<u8>) -> Urgency {
    match value {
        Some(v) if v >= 80 => Urgency::Critical,
        Some(v) if v >= 40 => Urgency::Normal,
        _ => Urgency::Low,
    }
}
pub struct Popup {
    pub key: String,
    pub summary: String,
    pub lines: Vec<String>,
    pub urgency: Urgency,
    pub link: Option<url::Url>,
}
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("server")]
    Server { detail: String },
}
