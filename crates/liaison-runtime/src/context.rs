//! Who makes a gRPC call and the trace it belongs to, as every service
//! records it on the events the call causes.
//!
//! The actor and role come only from a [`VerifiedIdentity`] in the call's
//! extensions: put there by the server once a signed identity verified
//! (see [`crate::grpc`]), or by the process itself when one of its services
//! calls another in-process. Nothing a caller writes in its metadata can
//! make it someone else, the system least of all.

use liaison_eventstore::EventMetadata;
use tonic::Request;

use crate::identity::VerifiedIdentity;

/// The role of Liaison's own services and reactions.
pub const SYSTEM_ROLE: &str = "system";

/// Actor, correlation and trace of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The verified actor (`user:<id>`, `system:<service>`); `anonymous`
    /// for an unsigned call.
    pub actor: String,
    /// The verified role (`admin`, `staff`, `customer`, `system`); empty
    /// for an unsigned call.
    pub role: String,
    /// `x-request-id` metadata; a new UUIDv7 when absent.
    pub correlation_id: String,
    /// The call's span when traced, else the caller's `traceparent`.
    pub traceparent: String,
}

impl RequestContext {
    pub fn of<T>(request: &Request<T>) -> Self {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
        };
        let identity = request.extensions().get::<VerifiedIdentity>();
        RequestContext {
            actor: identity
                .map_or("anonymous", |identity| &identity.actor)
                .to_owned(),
            role: identity.map_or("", |identity| &identity.role).to_owned(),
            correlation_id: correlation_id(header("x-request-id")),
            traceparent: crate::trace::traceparent_for_events(header("traceparent")),
        }
    }

    /// A call made by `actor` in `role`, authenticated by this process (the
    /// gateway for the people it logged in), in the current trace.
    pub fn authenticated(actor: &str, role: &str, correlation_id: &str) -> Self {
        RequestContext {
            actor: actor.to_owned(),
            role: role.to_owned(),
            correlation_id: self::correlation_id(correlation_id),
            traceparent: crate::trace::traceparent_for_events(""),
        }
    }

    /// Liaison's own work in `service` (reactions, installs, in-process
    /// calls between services), in the current trace.
    pub fn system(service: &str) -> Self {
        Self::authenticated(&format!("system:{service}"), SYSTEM_ROLE, "")
    }

    pub fn is_system(&self) -> bool {
        self.role == SYSTEM_ROLE
    }

    /// What the events of this call record of it, stamped now.
    pub fn event_metadata(&self) -> EventMetadata {
        EventMetadata {
            actor: self.actor.clone(),
            correlation_id: self.correlation_id.clone(),
            causation_id: String::new(),
            traceparent: self.traceparent.clone(),
            occurred_at_micros: liaison_eventstore::now_micros(),
        }
    }

    /// `message` as an in-process call carrying this context's identity.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.extensions_mut().insert(VerifiedIdentity {
            actor: self.actor.clone(),
            role: self.role.clone(),
        });
        if let Ok(value) = self.correlation_id.parse() {
            request.metadata_mut().insert("x-request-id", value);
        }
        if let Ok(value) = self.traceparent.parse() {
            request.metadata_mut().insert("traceparent", value);
        }
        request
    }
}

fn correlation_id(given: &str) -> String {
    if given.is_empty() {
        uuid::Uuid::now_v7().to_string()
    } else {
        given.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_the_verified_identity_never_the_metadata() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("liaison-actor", "system:billing".parse().expect("ascii"));
        request
            .metadata_mut()
            .insert("liaison-role", "system".parse().expect("ascii"));
        request
            .metadata_mut()
            .insert("x-request-id", "r-1".parse().expect("ascii"));
        let context = RequestContext::of(&request);
        assert_eq!(context.actor, "anonymous");
        assert_eq!(context.role, "");
        assert!(!context.is_system());
        assert_eq!(context.correlation_id, "r-1");

        request.extensions_mut().insert(VerifiedIdentity {
            actor: "user:42".into(),
            role: "staff".into(),
        });
        let context = RequestContext::of(&request);
        assert_eq!(
            (context.actor.as_str(), context.role.as_str()),
            ("user:42", "staff")
        );
    }

    #[test]
    fn an_in_process_call_carries_its_identity() {
        let system = RequestContext::system("contacts");
        assert!(system.is_system());
        let context = RequestContext::of(&system.request(()));
        assert_eq!(context.actor, "system:contacts");
        assert!(context.is_system());
        assert_eq!(context.correlation_id, system.correlation_id);
        let anonymous = RequestContext::of(&Request::new(()));
        assert_eq!(anonymous.actor, "anonymous");
        assert!(uuid::Uuid::parse_str(&anonymous.correlation_id).is_ok());
    }

    #[test]
    fn events_record_who_and_which_trace() {
        let context = RequestContext {
            actor: "user:7".into(),
            role: "admin".into(),
            correlation_id: "c-1".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        };
        let metadata = context.event_metadata();
        assert_eq!(metadata.actor, "user:7");
        assert_eq!(metadata.correlation_id, "c-1");
        assert_eq!(metadata.traceparent, context.traceparent);
        assert!(metadata.occurred_at_micros > 0);
    }
}
