//! Users, logins, sessions and API tokens: the gateway's own data.

pub mod credentials;
pub mod devices;
pub mod events;
pub mod login_guard;
pub mod password_checks;
pub mod user;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liaison_eventstore::aggregate::{self, Aggregate};
use liaison_eventstore::{now_micros, EventStore};
use liaison_runtime::RequestContext;

use crate::storage::{ReadModel, TokenRow, UserRow};
use crate::GatewayError;
use credentials::{csrf_token_for, secret_hash};
use devices::DeviceKey;
use events::Account;
use login_guard::{LoginGuard, Origin};
use password_checks::PasswordChecks;
use user::{Permission, Role, UserCommand};

const MAX_DISPLAY_NAME_CHARS: usize = 200;
const MAX_TOKEN_NAME_CHARS: usize = 100;
const MAX_TOKENS_PER_USER: usize = 50;

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Granted beyond the role.
    pub permissions: BTreeSet<Permission>,
    pub via: Credential,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A browser session; state-changing requests must carry this token.
    Session {
        csrf_token: String,
        secret: String,
    },
    ApiToken,
}

impl Caller {
    /// Whether the caller holds `permission` (its role's, or granted).
    pub fn may(&self, permission: Permission) -> bool {
        permission.held_by(self.role, &self.permissions)
    }

    /// The actor recorded on events and passed to services.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }
}

/// What a start found or did about the first admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAdmin {
    AlreadyThere,
    /// With the configured password.
    Created,
    /// With this generated password, to show once.
    CreatedWithPassword(String),
}

/// A login that succeeded: the secret goes in the cookie, only there.
#[derive(Debug)]
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub user: UserRow,
    pub expires_at_micros: i64,
    /// This browser's known-device token for the account (ADR 0008).
    pub device_token: String,
}

/// Where a login comes from, as its request tells.
#[derive(Debug, Clone, Default)]
pub struct LoginSource {
    /// The client address (after trusted proxies).
    pub address: String,
    /// The known-device token the browser sent, if any.
    pub device_token: Option<String>,
    pub user_agent: String,
}

/// What stands between a guesser and the passwords.
pub struct Guards {
    pub logins: LoginGuard,
    pub passwords: PasswordChecks,
    pub devices: DeviceKey,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
}

/// What an admin may change of a user; `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
    /// Every permission granted beyond the role (the others are taken back).
    pub permissions: Option<BTreeSet<Permission>>,
}

pub struct Accounts {
    store: Arc<dyn EventStore>,
    read_model: ReadModel,
    guards: Guards,
    session_lifetime: Duration,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn EventStore>,
        read_model: ReadModel,
        guards: Guards,
        session_lifetime: Duration,
    ) -> Self {
        Self {
            store,
            read_model,
            guards,
            session_lifetime,
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    /// Creates the first admin when there is no user at all.
    pub async fn ensure_first_admin(
        &self,
        email: &str,
        password: &str,
    ) -> Result<FirstAdmin, GatewayError> {
        if self.read_model.user_count().await? > 0 {
            return Ok(FirstAdmin::AlreadyThere);
        }
        let generated = password.is_empty().then(credentials::new_secret);
        let password = generated.clone().unwrap_or_else(|| password.to_owned());
        let created = self
            .create_user(
                "system",
                NewUser {
                    email: email.to_owned(),
                    display_name: "Administrator".to_owned(),
                    role: Role::Admin,
                    password,
                },
            )
            .await;
        match created {
            Ok(_) => Ok(match generated {
                Some(password) => FirstAdmin::CreatedWithPassword(password),
                None => FirstAdmin::Created,
            }),
            // Another process created it meanwhile.
            Err(GatewayError::AlreadyExists(_)) => Ok(FirstAdmin::AlreadyThere),
            Err(error) => Err(error),
        }
    }

    pub async fn create_user(&self, actor: &str, new: NewUser) -> Result<UserRow, GatewayError> {
        let email = normalise_email("email", &new.email)?;
        let display_name = check_display_name("display_name", &new.display_name)?;
        credentials::check_new_password("password", &new.password)?;
        let password_hash = self.guards.passwords.hash(new.password).await?;
        let user_id = uuid::Uuid::now_v7().to_string();
        self.execute(
            &user_id,
            None,
            UserCommand::Create {
                email,
                display_name,
                role: new.role,
                password_hash,
            },
            actor,
        )
        .await?;
        self.user(&user_id).await
    }

    pub async fn user(&self, user_id: &str) -> Result<UserRow, GatewayError> {
        self.read_model
            .user(user_id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(format!("user {user_id}")))
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, GatewayError> {
        self.read_model.users().await
    }

    /// Applies an admin's changes, all in one append.
    pub async fn update_user(
        &self,
        actor: &Caller,
        user_id: &str,
        changes: UserChanges,
        expected_version: Option<u64>,
    ) -> Result<UserRow, GatewayError> {
        let mut commands = Vec::new();
        if let Some(name) = &changes.display_name {
            commands.push(UserCommand::ChangeProfile {
                display_name: check_display_name("display_name", name)?,
            });
        }
        if let Some(role) = changes.role {
            commands.push(UserCommand::ChangeRole { role });
        }
        if let Some(permissions) = changes.permissions {
            commands.push(UserCommand::SetPermissions { permissions });
        }
        match changes.disabled {
            Some(true) if user_id == actor.user_id => {
                return Err(GatewayError::FailedPrecondition(
                    "you cannot disable your own account".into(),
                ))
            }
            Some(true) => commands.push(UserCommand::Disable),
            Some(false) => commands.push(UserCommand::Enable),
            None => {}
        }
        if let Some(password) = changes.password {
            credentials::check_new_password("password", &password)?;
            commands.push(UserCommand::ChangePassword {
                password_hash: self.guards.passwords.hash(password).await?,
            });
        }
        self.execute_all(user_id, expected_version, commands, &actor.actor())
            .await?;
        self.user(user_id).await
    }

    /// A person changing their own password, proving the current one.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &str,
        new: String,
    ) -> Result<(), GatewayError> {
        let user = self.user(&caller.user_id).await?;
        if !self
            .guards
            .passwords
            .verify(user.password_hash, current.to_owned())
            .await?
        {
            return Err(GatewayError::invalid(
                "current_password",
                "the current password is wrong",
            ));
        }
        credentials::check_new_password("new_password", &new)?;
        let password_hash = self.guards.passwords.hash(new).await?;
        self.execute(
            &caller.user_id,
            None,
            UserCommand::ChangePassword { password_hash },
            &caller.actor(),
        )
        .await
        .map(|_| ())
    }

    /// Checks the password and opens a session: a new secret each time,
    /// so a session id planted before the login is worthless after it.
    /// The login guard counts the attempt before the password is checked.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        source: &LoginSource,
    ) -> Result<NewSession, GatewayError> {
        let account = email.trim().to_lowercase();
        let known_device = source
            .device_token
            .as_deref()
            .and_then(|token| self.guards.devices.device_of(&account, token));
        let origin = Origin {
            address: source.address.clone(),
            known_device: known_device.clone(),
        };
        let attempt = self
            .guards
            .logins
            .admit(&account, &origin, Instant::now())?;
        let user = match self.user_with_password(&account, password).await {
            Ok(Some(user)) => {
                self.guards.logins.succeeded(attempt);
                user
            }
            Ok(None) => {
                self.guards.logins.failed(attempt);
                return Err(GatewayError::Unauthenticated(
                    "wrong email or password".into(),
                ));
            }
            Err(error) => {
                self.guards.logins.undecided(attempt);
                return Err(error);
            }
        };
        let secret = credentials::new_secret();
        let lifetime = i64::try_from(self.session_lifetime.as_micros()).unwrap_or(i64::MAX);
        let expires_at_micros = now_micros().saturating_add(lifetime);
        self.execute(
            &user.id,
            None,
            UserCommand::StartSession {
                session_hash: secret_hash(&secret),
                expires_at_micros,
                address: truncate(&source.address, 100),
                user_agent: truncate(&source.user_agent, 300),
            },
            &format!("user:{}", user.id),
        )
        .await?;
        Ok(NewSession {
            csrf_token: csrf_token_for(&secret),
            secret,
            device_token: self.guards.devices.token(&account, known_device.as_deref()),
            user,
            expires_at_micros,
        })
    }

    /// The user of `account` when `password` is theirs. Unknown accounts
    /// cost a check like known ones; a password longer than any accepted
    /// cannot match and costs none.
    async fn user_with_password(
        &self,
        account: &str,
        password: &str,
    ) -> Result<Option<UserRow>, GatewayError> {
        if password.len() > credentials::MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let user = self.read_model.user_by_email(account).await?;
        let password = password.to_owned();
        let matches = match &user {
            Some(user) => {
                self.guards
                    .passwords
                    .verify(user.password_hash.clone(), password)
                    .await?
            }
            None => self.guards.passwords.verify_unknown(password).await?,
        };
        Ok(user.filter(|_| matches))
    }

    pub async fn logout(&self, caller: &Caller) -> Result<(), GatewayError> {
        let Credential::Session { secret, .. } = &caller.via else {
            return Ok(());
        };
        self.execute(
            &caller.user_id,
            None,
            UserCommand::EndSession {
                session_hash: secret_hash(secret),
            },
            &caller.actor(),
        )
        .await
        .map(|_| ())
    }

    /// The caller behind a session cookie, if it is live.
    pub async fn by_session(&self, secret: &str) -> Result<Option<Caller>, GatewayError> {
        let user = self
            .read_model
            .session_user(&secret_hash(secret), now_micros())
            .await?;
        Ok(user.map(|user| {
            caller(
                user,
                Credential::Session {
                    csrf_token: csrf_token_for(secret),
                    secret: secret.to_owned(),
                },
            )
        }))
    }

    /// The caller behind a bearer token, if it is live.
    pub async fn by_token(&self, token: &str) -> Result<Option<Caller>, GatewayError> {
        if !token.starts_with(credentials::TOKEN_PREFIX) {
            return Ok(None);
        }
        let user = self
            .read_model
            .token_user(&secret_hash(token), now_micros())
            .await?;
        Ok(user.map(|user| caller(user, Credential::ApiToken)))
    }

    /// A new personal API token; the token itself is returned only here.
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<(TokenRow, String), GatewayError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME_CHARS {
            return Err(GatewayError::invalid(
                "name",
                format!("a token needs a name of 1 to {MAX_TOKEN_NAME_CHARS} characters"),
            ));
        }
        let live = self
            .read_model
            .tokens_of(&caller.user_id)
            .await?
            .into_iter()
            .filter(|token| token.revoked_at.is_none())
            .count();
        if live >= MAX_TOKENS_PER_USER {
            return Err(GatewayError::FailedPrecondition(format!(
                "you already have {live} API tokens; revoke one first"
            )));
        }
        let expires_at_micros = match expires_in_days {
            None => 0,
            Some(0) | Some(3651..) => {
                return Err(GatewayError::invalid(
                    "expires_in_days",
                    "expires_in_days must be between 1 and 3650, or absent for no expiry",
                ))
            }
            Some(days) => now_micros().saturating_add(i64::from(days) * 86_400_000_000),
        };
        let token = credentials::new_api_token();
        let token_id = uuid::Uuid::now_v7().to_string();
        self.execute(
            &caller.user_id,
            None,
            UserCommand::CreateToken {
                token_id: token_id.clone(),
                name: name.to_owned(),
                token_hash: secret_hash(&token),
                prefix: credentials::token_display_prefix(&token),
                expires_at_micros,
            },
            &caller.actor(),
        )
        .await?;
        let row = self
            .read_model
            .tokens_of(&caller.user_id)
            .await?
            .into_iter()
            .find(|row| row.id == token_id)
            .ok_or_else(|| {
                GatewayError::Internal("the new token is not in the read model".into())
            })?;
        Ok((row, token))
    }

    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenRow>, GatewayError> {
        self.read_model.tokens_of(&caller.user_id).await
    }

    pub async fn revoke_token(&self, caller: &Caller, token_id: &str) -> Result<(), GatewayError> {
        self.execute(
            &caller.user_id,
            None,
            UserCommand::RevokeToken {
                token_id: token_id.to_owned(),
            },
            &caller.actor(),
        )
        .await
        .map(|_| ())
    }

    async fn execute(
        &self,
        user_id: &str,
        expected_version: Option<u64>,
        command: UserCommand,
        actor: &str,
    ) -> Result<u64, GatewayError> {
        self.execute_all(user_id, expected_version, vec![command], actor)
            .await
    }

    /// Decides every command on the user in turn and appends all their
    /// events at once (or none); returns the user's version.
    async fn execute_all(
        &self,
        user_id: &str,
        expected_version: Option<u64>,
        commands: Vec<UserCommand>,
        actor: &str,
    ) -> Result<u64, GatewayError> {
        // Who acted, in the current trace; the role is the caller's business.
        let metadata = RequestContext::authenticated(actor, "", "").event_metadata();
        let executed = aggregate::execute::<Account>(
            self.store.as_ref(),
            user_id,
            expected_version,
            &metadata,
            |loaded| {
                let mut account = loaded.clone();
                let mut events = Vec::new();
                for command in commands.iter().cloned() {
                    let decided = account.state.decide(command)?;
                    account = account.after(&decided, metadata.occurred_at_micros);
                    events.extend(decided);
                }
                Ok(events)
            },
        )
        .await?;
        Ok(executed.version)
    }
}

fn caller(user: UserRow, via: Credential) -> Caller {
    Caller {
        user_id: user.id,
        email: user.email,
        display_name: user.display_name,
        role: user.role,
        permissions: user.permissions,
        via,
    }
}

pub fn normalise_email(field: &str, email: &str) -> Result<String, GatewayError> {
    let email = email.trim().to_lowercase();
    if email.len() > 254 || email.parse::<email_address::EmailAddress>().is_err() {
        return Err(GatewayError::invalid(
            field,
            format!("{email:?} is not an email address"),
        ));
    }
    Ok(email)
}

fn check_display_name(field: &str, name: &str) -> Result<String, GatewayError> {
    let name = name.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(GatewayError::invalid(
            field,
            format!(
                "a display name has 1 to {MAX_DISPLAY_NAME_CHARS} characters, none of them control characters"
            ),
        ));
    }
    Ok(name.to_owned())
}

fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}
