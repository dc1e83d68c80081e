//! The user aggregate: who may log in, in which role, with which sessions
//! and API tokens. Pure: hashes, ids and times come in with the command.

use std::collections::{BTreeSet, HashMap, HashSet};

use liaison_proto::gateway::v1 as pb;
use pb::user_event::Event;

use crate::GatewayError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Staff,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Customer => "customer",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }

    pub fn to_proto(self) -> pb::Role {
        match self {
            Role::Admin => pb::Role::Admin,
            Role::Staff => pb::Role::Staff,
            Role::Customer => pb::Role::Customer,
        }
    }

    pub fn from_proto(value: i32) -> Option<Role> {
        match pb::Role::try_from(value).ok()? {
            pb::Role::Admin => Some(Role::Admin),
            pb::Role::Staff => Some(Role::Staff),
            pb::Role::Customer => Some(Role::Customer),
            pb::Role::Unspecified => None,
        }
    }

    /// Works with the back-office data (contacts, relations, ...).
    pub fn is_back_office(self) -> bool {
        matches!(self, Role::Admin | Role::Staff)
    }
}

/// What a role does not give by itself: an admin grants it to staff
/// (ADR 0009). Admins hold every permission, customers none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Irreversible removals: erasing a person, purging a contact from the
    /// trash, deleting a relation type with its relations.
    Destroy,
}

impl Permission {
    pub const ALL: [Permission; 1] = [Permission::Destroy];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Destroy => "destroy",
        }
    }

    pub fn parse(value: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == value)
    }

    /// Whether a user of `role` granted `granted` holds this permission.
    pub fn held_by(self, role: Role, granted: &BTreeSet<Permission>) -> bool {
        match role {
            Role::Admin => true,
            Role::Staff => granted.contains(&self),
            Role::Customer => false,
        }
    }
}

/// A user as its events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Granted beyond the role (see [`Permission::held_by`]).
    pub permissions: BTreeSet<Permission>,
    pub disabled: bool,
    pub sessions: HashSet<String>,
    /// Token id → revoked.
    pub tokens: HashMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    Create {
        email: String,
        display_name: String,
        role: Role,
        password_hash: String,
    },
    ChangePassword {
        password_hash: String,
    },
    ChangeProfile {
        display_name: String,
    },
    ChangeRole {
        role: Role,
    },
    SetPermissions {
        permissions: BTreeSet<Permission>,
    },
    Disable,
    Enable,
    StartSession {
        session_hash: String,
        expires_at_micros: i64,
        address: String,
        user_agent: String,
    },
    EndSession {
        session_hash: String,
    },
    CreateToken {
        token_id: String,
        name: String,
        token_hash: String,
        prefix: String,
        expires_at_micros: i64,
    },
    RevokeToken {
        token_id: String,
    },
}

/// The events a command causes on `user` (None: no such user yet).
pub fn decide(user: Option<&User>, command: UserCommand) -> Result<Vec<Event>, GatewayError> {
    let Some(user) = user else {
        return match command {
            UserCommand::Create {
                email,
                display_name,
                role,
                password_hash,
            } => Ok(vec![Event::Created(pb::UserCreated {
                email,
                display_name,
                role: role.to_proto() as i32,
                password_hash,
            })]),
            _ => Err(GatewayError::NotFound("user".into())),
        };
    };
    let events = match command {
        UserCommand::Create { email, .. } => {
            return Err(GatewayError::AlreadyExists(format!(
                "a user with email {email:?} already exists"
            )))
        }
        UserCommand::ChangePassword { password_hash } => {
            vec![Event::PasswordChanged(pb::PasswordChanged {
                password_hash,
            })]
        }
        UserCommand::ChangeProfile { display_name } if display_name == user.display_name => {
            vec![]
        }
        UserCommand::ChangeProfile { display_name } => {
            vec![Event::ProfileChanged(pb::ProfileChanged { display_name })]
        }
        UserCommand::ChangeRole { role } if role == user.role => vec![],
        UserCommand::ChangeRole { role } => vec![Event::RoleChanged(pb::RoleChanged {
            role: role.to_proto() as i32,
        })],
        UserCommand::SetPermissions { permissions } if permissions == user.permissions => vec![],
        UserCommand::SetPermissions { permissions }
            if user.role == Role::Customer && !permissions.is_empty() =>
        {
            return Err(GatewayError::invalid(
                "permissions",
                "customers hold no permission: make the user staff first",
            ))
        }
        UserCommand::SetPermissions { permissions } => {
            vec![Event::PermissionsChanged(pb::PermissionsChanged {
                permissions: permissions
                    .iter()
                    .map(|permission| permission.as_str().to_owned())
                    .collect(),
            })]
        }
        UserCommand::Disable if user.disabled => vec![],
        UserCommand::Disable => vec![Event::Disabled(pb::UserDisabled {})],
        UserCommand::Enable if !user.disabled => vec![],
        UserCommand::Enable => vec![Event::Enabled(pb::UserEnabled {})],
        UserCommand::StartSession { .. } | UserCommand::CreateToken { .. } if user.disabled => {
            return Err(GatewayError::PermissionDenied(format!(
                "the account {} is disabled",
                user.email
            )))
        }
        UserCommand::StartSession {
            session_hash,
            expires_at_micros,
            address,
            user_agent,
        } => vec![Event::SessionStarted(pb::SessionStarted {
            session_hash,
            expires_at_micros,
            address,
            user_agent,
        })],
        UserCommand::EndSession { session_hash } if !user.sessions.contains(&session_hash) => {
            vec![]
        }
        UserCommand::EndSession { session_hash } => {
            vec![Event::SessionEnded(pb::SessionEnded { session_hash })]
        }
        UserCommand::CreateToken {
            token_id,
            name,
            token_hash,
            prefix,
            expires_at_micros,
        } => vec![Event::TokenCreated(pb::ApiTokenCreated {
            token_id,
            name,
            token_hash,
            prefix,
            expires_at_micros,
        })],
        UserCommand::RevokeToken { token_id } => match user.tokens.get(&token_id) {
            None => return Err(GatewayError::NotFound(format!("API token {token_id}"))),
            Some(true) => vec![],
            Some(false) => vec![Event::TokenRevoked(pb::ApiTokenRevoked { token_id })],
        },
    };
    Ok(events)
}

/// The user after `event`.
pub fn evolve(user: Option<User>, event: &Event) -> Option<User> {
    if let Event::Created(created) = event {
        return Some(User {
            email: created.email.clone(),
            display_name: created.display_name.clone(),
            role: Role::from_proto(created.role).unwrap_or(Role::Customer),
            permissions: BTreeSet::new(),
            disabled: false,
            sessions: HashSet::new(),
            tokens: HashMap::new(),
        });
    }
    let mut user = user?;
    match event {
        Event::Created(_) | Event::PasswordChanged(_) => {}
        Event::ProfileChanged(changed) => user.display_name = changed.display_name.clone(),
        Event::RoleChanged(changed) => {
            user.role = Role::from_proto(changed.role).unwrap_or(user.role);
        }
        Event::PermissionsChanged(changed) => {
            user.permissions = permissions_of(&changed.permissions);
        }
        Event::Disabled(_) => user.disabled = true,
        Event::Enabled(_) => user.disabled = false,
        Event::SessionStarted(started) => {
            user.sessions.insert(started.session_hash.clone());
        }
        Event::SessionEnded(ended) => {
            user.sessions.remove(&ended.session_hash);
        }
        Event::TokenCreated(created) => {
            user.tokens.insert(created.token_id.clone(), false);
        }
        Event::TokenRevoked(revoked) => {
            user.tokens.insert(revoked.token_id.clone(), true);
        }
    }
    // A password change, a demotion or a disabling ends every session.
    if matches!(
        event,
        Event::PasswordChanged(_) | Event::RoleChanged(_) | Event::Disabled(_)
    ) {
        user.sessions.clear();
    }
    Some(user)
}

/// The event type recorded in the log.
pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::Created(_) => "user.created",
        Event::PasswordChanged(_) => "user.password_changed",
        Event::ProfileChanged(_) => "user.profile_changed",
        Event::RoleChanged(_) => "user.role_changed",
        Event::Disabled(_) => "user.disabled",
        Event::Enabled(_) => "user.enabled",
        Event::SessionStarted(_) => "user.session_started",
        Event::SessionEnded(_) => "user.session_ended",
        Event::TokenCreated(_) => "user.token_created",
        Event::TokenRevoked(_) => "user.token_revoked",
        Event::PermissionsChanged(_) => "user.permissions_changed",
    }
}

/// The permissions named in an event or a row; names this version does not
/// know are left out.
pub fn permissions_of<S: AsRef<str>>(names: &[S]) -> BTreeSet<Permission> {
    names
        .iter()
        .filter_map(|name| Permission::parse(name.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use liaison_eventstore::testing::{given, Given};
    use liaison_runtime::ServiceError;

    use super::*;
    use crate::accounts::events::Account;

    fn user_with(events: impl IntoIterator<Item = Event>) -> Given<Account> {
        given::<Account>("ada", events)
    }

    fn created(role: Role) -> Event {
        Event::Created(pb::UserCreated {
            email: "ada@example.org".into(),
            display_name: "Ada".into(),
            role: role.to_proto() as i32,
            password_hash: "$argon2id$…".into(),
        })
    }

    fn session(hash: &str) -> UserCommand {
        UserCommand::StartSession {
            session_hash: hash.into(),
            expires_at_micros: 1,
            address: "127.0.0.1".into(),
            user_agent: "test".into(),
        }
    }

    #[test]
    fn creates_a_user_once() {
        let command = UserCommand::Create {
            email: "ada@example.org".into(),
            display_name: "Ada".into(),
            role: Role::Staff,
            password_hash: "$argon2id$…".into(),
        };
        let account = user_with([])
            .when(command.clone())
            .then([created(Role::Staff)]);
        assert_eq!(account.user.map(|user| user.role), Some(Role::Staff));
        let error = user_with([created(Role::Staff)]).when(command).then_err();
        assert!(
            matches!(&error, GatewayError::AlreadyExists(message) if message.contains("ada@example.org")),
            "{error}"
        );
    }

    #[test]
    fn a_disabled_user_cannot_log_in_or_get_a_token() {
        let disabled = user_with([created(Role::Staff), Event::Disabled(pb::UserDisabled {})]);
        let error = disabled.when(session("s")).then_err();
        assert!(matches!(error, GatewayError::PermissionDenied(_)));
        let token = UserCommand::CreateToken {
            token_id: "t".into(),
            name: "ci".into(),
            token_hash: "h".into(),
            prefix: "lia_ab".into(),
            expires_at_micros: 0,
        };
        let error = disabled.when(token).then_err();
        assert!(matches!(error, GatewayError::PermissionDenied(_)));
    }

    #[test]
    fn a_password_change_ends_every_session() {
        let logged_in = user_with([
            created(Role::Staff),
            Event::SessionStarted(pb::SessionStarted {
                session_hash: "s1".into(),
                ..Default::default()
            }),
        ]);
        assert!(logged_in
            .state()
            .user
            .as_ref()
            .is_some_and(|user| user.sessions.contains("s1")));
        let after = logged_in
            .when(UserCommand::ChangePassword {
                password_hash: "new".into(),
            })
            .then([Event::PasswordChanged(pb::PasswordChanged {
                password_hash: "new".into(),
            })]);
        assert!(after.user.is_some_and(|user| user.sessions.is_empty()));
    }

    #[test]
    fn unchanged_values_cause_no_event() {
        let staff = user_with([created(Role::Staff)]);
        staff
            .when(UserCommand::ChangeRole { role: Role::Staff })
            .then_nothing();
        staff.when(UserCommand::Enable).then_nothing();
        staff
            .when(UserCommand::EndSession {
                session_hash: "unknown".into(),
            })
            .then_nothing();
    }

    #[test]
    fn admins_grant_permissions_to_staff_never_to_customers() {
        let destroy = BTreeSet::from([Permission::Destroy]);
        let granted = user_with([created(Role::Staff)])
            .when(UserCommand::SetPermissions {
                permissions: destroy.clone(),
            })
            .then([Event::PermissionsChanged(pb::PermissionsChanged {
                permissions: vec!["destroy".into()],
            })]);
        let user = granted.user.expect("user");
        assert!(Permission::Destroy.held_by(user.role, &user.permissions));
        assert!(!Permission::Destroy.held_by(Role::Staff, &BTreeSet::new()));
        assert!(Permission::Destroy.held_by(Role::Admin, &BTreeSet::new()));
        assert!(!Permission::Destroy.held_by(Role::Customer, &destroy));
        let error = user_with([created(Role::Customer)])
            .when(UserCommand::SetPermissions {
                permissions: destroy,
            })
            .then_err();
        assert_eq!(error.field(), Some("permissions"));
        user_with([created(Role::Customer)])
            .when(UserCommand::SetPermissions {
                permissions: BTreeSet::new(),
            })
            .then_nothing();
    }

    #[test]
    fn a_missing_user_or_token_is_not_found() {
        let error = user_with([]).when(UserCommand::Disable).then_err();
        assert!(matches!(error, GatewayError::NotFound(_)));
        let error = user_with([created(Role::Staff)])
            .when(UserCommand::RevokeToken {
                token_id: "nope".into(),
            })
            .then_err();
        assert!(matches!(error, GatewayError::NotFound(_)));
    }
}
