//! Who makes a gRPC call and the trace it belongs to, as every service
//! records it on the events the call causes.

use tonic::Request;

/// Actor, correlation and trace of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// `liaison-actor` metadata; `anonymous` when absent.
    pub actor: String,
    /// `liaison-role` metadata (`admin`, `staff`, `customer`, `system`);
    /// empty when the caller did not present a signed identity.
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
                .to_owned()
        };
        let actor = header("liaison-actor");
        let correlation_id = header("x-request-id");
        let role = header("liaison-role");
        RequestContext {
            actor: if actor.is_empty() {
                "anonymous".to_owned()
            } else {
                actor
            },
            role,
            correlation_id: if correlation_id.is_empty() {
                uuid::Uuid::now_v7().to_string()
            } else {
                correlation_id
            },
            traceparent: crate::trace::traceparent_for_events(&header("traceparent")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_callers_metadata_or_defaults() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("liaison-actor", "system:billing".parse().expect("ascii"));
        request
            .metadata_mut()
            .insert("x-request-id", "r-1".parse().expect("ascii"));
        let context = RequestContext::of(&request);
        assert_eq!(context.actor, "system:billing");
        assert_eq!(context.correlation_id, "r-1");
        let context = RequestContext::of(&Request::new(()));
        assert_eq!(context.actor, "anonymous");
        assert!(uuid::Uuid::parse_str(&context.correlation_id).is_ok());
    }
}
