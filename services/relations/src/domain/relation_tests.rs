use super::*;
use crate::domain::entity::EntityState;
use crate::domain::relation_type::{self, builtins, RelationType, ORGANISATION, PERSON};
use crate::error::Rule;
use liaison_runtime::ServiceError;

fn builtin(id: &str) -> RelationType {
    let created = builtins()
        .into_iter()
        .find(|b| b.subject_side.as_ref().is_some_and(|s| s.id == id))
        .expect("built in");
    relation_type::evolve(
        RelationType::new(id),
        &pb::relation_type_event::Event::Created(created),
    )
}

fn entity(kind: &str, id: &str, tags: &[&str]) -> Entity {
    Entity {
        reference: EntityRef {
            kind: kind.into(),
            id: id.into(),
        },
        label: id.to_uppercase(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        in_trash: false,
        state: EntityState::Live,
        merged_into: String::new(),
    }
}

/// The error is a broken constraint of this end, of this kind of rule.
fn breaks(error: &RelationsError, side: &str, rule: impl Fn(&Rule) -> bool) -> bool {
    matches!(error, RelationsError::Constraint(v) if v.side == side && rule(&v.rule))
}

#[test]
fn accepts_a_relation_that_fits_its_type() {
    let employed = builtin("employed_by");
    let marcel = entity(PERSON, "marcel", &[]);
    let untel = entity(ORGANISATION, "untel", &[]);
    check_create(&employed, "employed_by", &marcel, &untel, Caller::User).expect("fits");
    check_create(&employed, "employs", &untel, &marcel, Caller::User).expect("mirror fits");
}

#[test]
fn refuses_a_subject_of_the_wrong_kind() {
    let employed = builtin("employed_by");
    let a = entity(ORGANISATION, "a", &[]);
    let b = entity(ORGANISATION, "b", &[]);
    let error = check_create(&employed, "employed_by", &a, &b, Caller::User).expect_err("kind");
    assert!(breaks(&error, "subject", |rule| matches!(
        rule,
        Rule::Kind { .. }
    )));
    assert!(error.to_string().contains("\"employed_by\""), "{error}");
}

#[test]
fn an_object_side_violation_names_the_symmetric_predicate() {
    let employed = builtin("employed_by");
    let marcel = entity(PERSON, "marcel", &[]);
    let other = entity(PERSON, "other", &[]);
    let error =
        check_create(&employed, "employed_by", &marcel, &other, Caller::User).expect_err("kind");
    assert!(breaks(&error, "object", |rule| matches!(
        rule,
        Rule::Kind { .. }
    )));
    assert!(error.to_string().contains("\"employs\""), "{error}");
}

#[test]
fn tags_required_and_forbidden_are_enforced_on_each_side() {
    let mut partner = builtin("prospect_of");
    partner.subject_side.required_tags = vec!["qualified".into()];
    partner.object_side.forbidden_tags = vec!["blacklisted".into()];
    let c = entity(ORGANISATION, "c", &[]);
    let a = entity(ORGANISATION, "a", &[]);
    let error = check_create(&partner, "prospect_of", &c, &a, Caller::User).expect_err("tag");
    assert!(
        breaks(&error, "subject", |rule| matches!(
            rule,
            Rule::MissingTag(_)
        )),
        "{error}"
    );
    let c = entity(ORGANISATION, "c", &["Qualified"]);
    check_create(&partner, "prospect_of", &c, &a, Caller::User).expect("tag present");
    let a = entity(ORGANISATION, "a", &["blacklisted"]);
    let error = check_create(&partner, "prospect_of", &c, &a, Caller::User).expect_err("forbidden");
    assert!(
        breaks(&error, "object", |rule| matches!(
            rule,
            Rule::ForbiddenTag(_)
        )),
        "{error}"
    );
    assert!(error.to_string().contains("has_prospect"), "{error}");
}

#[test]
fn refuses_an_entity_related_to_itself() {
    let partner = builtin("partner_of");
    let a = entity(ORGANISATION, "a", &[]);
    let error = check_create(&partner, "partner_of", &a, &a, Caller::User).expect_err("self");
    assert!(matches!(error, RelationsError::SelfRelation { .. }));
}

#[test]
fn refuses_a_disabled_type_and_gone_entities() {
    let mut partner = builtin("partner_of");
    let a = entity(ORGANISATION, "a", &[]);
    let mut b = entity(ORGANISATION, "b", &[]);
    b.state = EntityState::Merged;
    b.merged_into = "c".into();
    let error = check_create(&partner, "partner_of", &a, &b, Caller::User).expect_err("merged");
    assert_eq!(error.to_string(), "B was merged into c");
    b.state = EntityState::Purged;
    let error = check_create(&partner, "partner_of", &a, &b, Caller::User).expect_err("purged");
    assert_eq!(error.to_string(), "B was purged");
    b.label.clear();
    let error = check_create(&partner, "partner_of", &a, &b, Caller::User).expect_err("purged");
    assert_eq!(
        error.to_string(),
        "contacts.organisation b was purged",
        "without a label, its kind and id"
    );
    partner.enabled = false;
    let b = entity(ORGANISATION, "b", &[]);
    let error = check_create(&partner, "partner_of", &a, &b, Caller::User).expect_err("disabled");
    assert!(matches!(error, RelationsError::TypeDisabled { .. }));
}

#[test]
fn only_the_system_uses_internal_types() {
    let mut issued = builtin("customer_of");
    issued.internal = true;
    let a = entity(ORGANISATION, "a", &[]);
    let b = entity(ORGANISATION, "b", &[]);
    let error = check_create(&issued, "customer_of", &a, &b, Caller::User).expect_err("internal");
    assert!(matches!(error, RelationsError::InternalType { .. }));
    check_create(&issued, "customer_of", &a, &b, Caller::System).expect("system may");
}

#[test]
fn an_entity_in_the_trash_takes_no_new_relation_on_either_side() {
    let partner = builtin("partner_of");
    let a = entity(ORGANISATION, "a", &[]);
    let mut b = entity(ORGANISATION, "b", &[]);
    b.in_trash = true;
    for (subject, object) in [(&a, &b), (&b, &a)] {
        let error = check_create(&partner, "partner_of", subject, object, Caller::System)
            .expect_err("in the trash");
        assert!(matches!(error, RelationsError::InTrash { ref entity } if entity == "B"));
        assert_eq!(error.code(), liaison_runtime::ErrorCode::FailedPrecondition);
    }
}

#[test]
fn counts_relations_that_new_constraints_would_break() {
    let mut employed = builtin("employed_by");
    let pairs = vec![
        (
            entity(PERSON, "p1", &["staff"]),
            entity(ORGANISATION, "o1", &[]),
        ),
        (entity(PERSON, "p2", &[]), entity(ORGANISATION, "o1", &[])),
    ];
    assert_eq!(count_violations(&employed, &pairs), 0);
    employed.subject_side.required_tags = vec!["staff".into()];
    assert_eq!(count_violations(&employed, &pairs), 1);
    employed.object_side.kinds = vec![PERSON.into()];
    assert_eq!(count_violations(&employed, &pairs), 2);
}

#[test]
fn a_created_relation_names_the_symmetric_predicate() {
    let employed = builtin("employed_by");
    let marcel = EntityRef {
        kind: PERSON.into(),
        id: "m".into(),
    };
    let untel = EntityRef {
        kind: ORGANISATION.into(),
        id: "u".into(),
    };
    let event = created(&employed, untel, "employs", marcel);
    assert_eq!(event.symmetric_predicate, "employed_by");
    assert_eq!(event.type_id, "employed_by");
}
