//! STUB replaced by the real client (helper). Signatures match the agreed API.
use serde::{Deserialize, Serialize};
use std::time::Duration;
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Urgency {
    pub value: Option<u8>,
    pub current_value: Option<u8>,
    pub display: Option<String>,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub name: Option<String>,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub uuid: Option<String>,
    pub short_id: Option<String>,
    pub title: Option<String>,
    pub urgency: Option<Urgency>,
    pub status: Option<Named>,
    pub rule: Option<Named>,
    pub entity: Option<Named>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub created_at: Option<i64>,
}
impl Alert {
    pub fn urgency_value(&self) -> Option<u8> {
        self.urgency
            .as_ref()
            .and_then(|u| u.current_value.or(u.value))
    }
}
#[derive(Debug, thiserror::Error)]
pub enum SekoiaError {
    #[error("not found")]
    NotFound,
    #[error("key rejected")]
    KeyRejected,
    #[error("rate limited")]
    RateLimited { retry_after: Option<Duration> },
}
impl SekoiaError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SekoiaError::RateLimited { .. })
    }
}
pub struct ApiKey(String);
impl ApiKey {
    pub fn new(s: String) -> Result<ApiKey, SekoiaError> {
        Ok(ApiKey(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
#[derive(Clone)]
pub struct Client;
impl Client {
    pub async fn get_alert(&self, _uuid: &str) -> Result<Alert, SekoiaError> {
        Err(SekoiaError::NotFound)
    }
    pub async fn list_alerts(&self, _uuids: &[&str]) -> Result<Vec<Alert>, SekoiaError> {
        Ok(vec![])
    }
}
pub struct ClientConfig;
impl ClientConfig {
    pub fn new(_u: url::Url) -> Self {
        ClientConfig
    }
}
impl Client {
    pub fn new(_c: ClientConfig, _k: ApiKey) -> Result<Client, SekoiaError> {
        Ok(Client)
    }
}
pub struct Me;
impl Client {
    pub async fn me(&self) -> Result<Me, SekoiaError> {
        Ok(Me)
    }
}
