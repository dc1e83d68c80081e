//! What every handler, API or page, reaches.

use std::sync::Arc;

use liaison_runtime::http::proxies::TrustedProxies;

use crate::accounts::Accounts;
use crate::backends::Backends;

#[derive(Clone)]
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub backends: Backends,
    /// Cookies get the `Secure` flag.
    pub secure_cookies: bool,
    pub session_max_age_seconds: u64,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
}
