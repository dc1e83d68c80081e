//! Every stream, subject and consumer name of the bus, in one place.

/// Subject of an event: `liaison.<service>.v1.<aggregate>.<event>`.
pub fn event_subject(service: &str, event_type: &str) -> String {
    format!("liaison.{service}.v1.{event_type}")
}

/// Filter matching every event of a service.
pub fn service_filter(service: &str) -> String {
    format!("liaison.{service}.v1.>")
}

/// JetStream stream holding a service's events.
pub fn stream_name(service: &str) -> String {
    format!("LIAISON_{}", service.to_ascii_uppercase())
}

/// NATS-style subject matching: `*` is one token, `>` the rest (one or more).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut filter_tokens = filter.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (filter_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => continue,
            (Some(expected), Some(actual)) if expected == actual => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_service_version_aggregate_event_scheme() {
        assert_eq!(
            event_subject("contacts", "person.created"),
            "liaison.contacts.v1.person.created"
        );
        assert_eq!(service_filter("contacts"), "liaison.contacts.v1.>");
        assert_eq!(stream_name("contacts"), "LIAISON_CONTACTS");
    }

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(
            "liaison.contacts.v1.>",
            "liaison.contacts.v1.person.created"
        ));
        assert!(!subject_matches(
            "liaison.contacts.v1.>",
            "liaison.contacts.v1"
        ));
        assert!(subject_matches(
            "liaison.*.v1.person.created",
            "liaison.contacts.v1.person.created"
        ));
        assert!(!subject_matches(
            "liaison.*.v1.person.created",
            "liaison.contacts.v1.person.erased"
        ));
        assert!(!subject_matches(
            "liaison.billing.v1.>",
            "liaison.contacts.v1.person.created"
        ));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }
}
