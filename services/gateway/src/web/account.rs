//! One's own account, for everyone in the back office: API tokens
//! (created and shown once, listed, revoked) and the password.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{minute, refusal, render, see_other, Layout, PageResult};
use crate::accounts::Caller;
use crate::auth::pages::{Button, StaffForm, StaffPage};
use crate::state::AppState;
use crate::storage::TokenRow;
use crate::GatewayError;

/// A token as the account page lists it.
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub expires: String,
    pub state: &'static str,
}

impl TokenView {
    fn of(row: TokenRow, now_micros: i64) -> Self {
        let state = if row.revoked_at.is_some() {
            "revoked"
        } else if row.expires_at != 0 && row.expires_at <= now_micros {
            "expired"
        } else {
            "active"
        };
        TokenView {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created: minute(row.created_at),
            expires: if row.expires_at == 0 {
                "never".into()
            } else {
                minute(row.expires_at)
            },
            state,
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    role: &'static str,
    tokens: Vec<TokenView>,
    /// A token just created: shown this once.
    new_token: String,
    token_name: String,
    error: String,
    error_field: String,
}

/// What a form's answer adds to the account page.
#[derive(Default)]
struct Answer {
    /// A token just created: shown this once.
    new_token: String,
    /// The name typed for a token that was refused.
    token_name: String,
    error: String,
    error_field: String,
}

impl Answer {
    fn refused(error: GatewayError) -> (StatusCode, Answer) {
        let (status, error, error_field) = refusal(error);
        (
            status,
            Answer {
                error,
                error_field,
                ..Default::default()
            },
        )
    }
}

async fn account_page(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    answer: Answer,
) -> PageResult {
    let Answer {
        new_token,
        token_name,
        error,
        error_field,
    } = answer;
    let now = liaison_eventstore::now_micros();
    let mut tokens: Vec<TokenView> = state
        .accounts
        .tokens(caller)
        .await?
        .into_iter()
        .map(|row| TokenView::of(row, now))
        .collect();
    tokens.sort_by_key(|token| token.state != "active");
    let page = AccountPage {
        layout: Layout::of(caller, "account"),
        email: caller.email.clone(),
        role: caller.role.as_str(),
        tokens,
        new_token,
        token_name,
        error,
        error_field,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn account(State(state): State<AppState>, StaffPage(caller): StaffPage) -> PageResult {
    account_page(&state, &caller, StatusCode::OK, Answer::default()).await
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    /// Days, or empty for a token that does not expire.
    expires_in_days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    StaffForm(caller, form): StaffForm<TokenForm>,
) -> PageResult {
    let days = match form.expires_in_days.trim() {
        "" => Ok(None),
        days => days.parse::<u32>().map(Some).map_err(|_| {
            GatewayError::invalid(
                "expires_in_days",
                format!("{days:?} is not a number of days"),
            )
        }),
    };
    let created = match days {
        Ok(days) => state.accounts.create_token(&caller, &form.name, days).await,
        Err(error) => Err(error),
    };
    match created {
        // Shown once, in this answer; never stored in a form or a URL.
        Ok((_, token)) => {
            let answer = Answer {
                new_token: token,
                ..Default::default()
            };
            account_page(&state, &caller, StatusCode::CREATED, answer).await
        }
        Err(error) => {
            let (status, answer) = Answer::refused(error);
            let answer = Answer {
                token_name: form.name,
                ..answer
            };
            account_page(&state, &caller, status, answer).await
        }
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
    StaffForm(caller, Button {}): StaffForm<Button>,
) -> PageResult {
    match state.accounts.revoke_token(&caller, &token_id).await {
        Ok(()) => Ok(see_other("/account#tokens")),
        Err(error) => {
            let (status, answer) = Answer::refused(error);
            account_page(&state, &caller, status, answer).await
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    repeated_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    StaffForm(caller, form): StaffForm<PasswordForm>,
) -> PageResult {
    let changed = if form.new_password != form.repeated_password {
        Err(GatewayError::invalid(
            "repeated_password",
            "the new password and its repetition differ",
        ))
    } else {
        state
            .accounts
            .change_own_password(&caller, &form.current_password, form.new_password)
            .await
    };
    match changed {
        // Every session ended with the change, this one too.
        Ok(()) => Ok(see_other("/login?next=%2Faccount")),
        Err(error) => {
            let (status, answer) = Answer::refused(error);
            account_page(&state, &caller, status, answer).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: i64, revoked_at: Option<i64>) -> TokenRow {
        TokenRow {
            id: "t".into(),
            user_id: "u".into(),
            name: "ci".into(),
            prefix: "lsn_ab".into(),
            created_at: 1_000_000,
            expires_at,
            revoked_at,
        }
    }

    #[test]
    fn a_token_is_active_until_it_expires_or_is_revoked() {
        assert_eq!(TokenView::of(token(0, None), 5).state, "active");
        assert_eq!(TokenView::of(token(0, None), 5).expires, "never");
        assert_eq!(TokenView::of(token(10, None), 5).state, "active");
        assert_eq!(TokenView::of(token(10, None), 10).state, "expired");
        assert_eq!(TokenView::of(token(0, Some(3)), 5).state, "revoked");
    }
}
