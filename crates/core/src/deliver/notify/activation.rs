//! The notification server's activation token (Desktop Notifications spec
//! 1.2: `ActivationToken(id, token)`, sent just before `ActionInvoked` for
//! the same click), handed to the program that opens the alert page as
//! `XDG_ACTIVATION_TOKEN` (Wayland's xdg-activation) and, in an X11
//! session, `DESKTOP_STARTUP_ID` (startup notification), so the compositor
//! raises the browser instead of leaving it behind other windows.
//!
//! Must not: keep tokens beyond their click (each is used once, and at most
//! [`KEPT`] unclaimed ones are held), or pass on a token that is not a plain
//! short printable string.

use std::collections::VecDeque;

/// Unclaimed tokens held at most (a server sending tokens without clicks).
pub const KEPT: usize = 32;
/// The longest token passed on.
const MAX_LEN: usize = 512;

/// Tokens received, by notification id, until their click claims them.
#[derive(Debug, Default)]
pub(super) struct Tokens {
    held: VecDeque<(u32, String)>,
}

impl Tokens {
    /// Keeps `token` for notification `id` (a newer one for the same id
    /// replaces it); an unusable token is dropped.
    pub(super) fn remember(&mut self, id: u32, token: &str) {
        if !usable(token) {
            tracing::debug!(id, "activation token ignored: not a short printable string");
            return;
        }
        self.held.retain(|(held, _)| *held != id);
        if self.held.len() >= KEPT {
            self.held.pop_front();
        }
        self.held.push_back((id, token.to_owned()));
    }

    /// The token for `id`'s click, once.
    pub(super) fn take(&mut self, id: u32) -> Option<String> {
        let at = self.held.iter().position(|(held, _)| *held == id)?;
        self.held.remove(at).map(|(_, token)| token)
    }
}

/// 1 to 512 printable ASCII characters without spaces.
fn usable(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The variables that hand an opener the token: `XDG_ACTIVATION_TOKEN`
/// always, `DESKTOP_STARTUP_ID` too when the session is X11 (no
/// `WAYLAND_DISPLAY`); none without a token.
pub(super) fn variables(token: Option<&str>) -> Vec<(&'static str, String)> {
    let Some(token) = token else {
        return Vec::new();
    };
    let mut vars = vec![("XDG_ACTIVATION_TOKEN", token.to_owned())];
    if std::env::var_os("WAYLAND_DISPLAY").is_none() {
        vars.push(("DESKTOP_STARTUP_ID", token.to_owned()));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_claimed_once_by_its_own_click_and_odd_tokens_are_dropped() {
        let mut tokens = Tokens::default();
        tokens.remember(7, "kwin-4242_TIME123");
        tokens.remember(8, "bad token with spaces");
        tokens.remember(9, &"x".repeat(600));
        assert_eq!(tokens.take(8), None);
        assert_eq!(tokens.take(9), None);
        assert_eq!(tokens.take(7).as_deref(), Some("kwin-4242_TIME123"));
        assert_eq!(tokens.take(7), None);
        for id in 0..100 {
            tokens.remember(id, "t");
        }
        assert_eq!(tokens.held.len(), KEPT);
    }
}
