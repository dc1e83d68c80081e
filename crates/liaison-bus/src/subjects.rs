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

/// JetStream stream holding every consumer's dead letters.
pub const DEAD_LETTER_STREAM: &str = "LIAISON_DEAD_LETTERS";

/// Subject of the dead letters of `consumer`.
pub fn dead_letter_subject(consumer: &str) -> String {
    format!("liaison.deadletter.{consumer}")
}

/// Filter matching every dead letter.
pub fn dead_letter_filter() -> String {
    "liaison.deadletter.>".to_owned()
}

/// The producing service named by an event subject or filter
/// (`liaison.<service>.v1...`), unless it is a wildcard.
pub fn service_of(subject: &str) -> Option<&str> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next()) {
        (Some("liaison"), Some(service), Some("v1")) if service != "*" && service != ">" => {
            Some(service)
        }
        _ => None,
    }
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
        assert_eq!(
            dead_letter_subject("relations"),
            "liaison.deadletter.relations"
        );
        assert!(subject_matches(
            &dead_letter_filter(),
            &dead_letter_subject("relations")
        ));
    }

    #[test]
    fn the_service_of_a_subject_is_its_second_token() {
        assert_eq!(
            service_of("liaison.contacts.v1.person.created"),
            Some("contacts")
        );
        assert_eq!(service_of("liaison.billing.v1.>"), Some("billing"));
        assert_eq!(service_of("liaison.*.v1.person.created"), None);
        assert_eq!(service_of("other.contacts.v1.x"), None);
        assert_eq!(service_of("liaison.contacts"), None);
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
