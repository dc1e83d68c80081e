//! The named fields of a contact, for partial updates and history.

use liaison_proto::contacts::v1::ContactData;

/// Every field of [`ContactData`], by the name events and history use.
pub const FIELDS: &[&str] = &[
    "title",
    "given_name",
    "family_name",
    "job_title",
    "organisation_name",
    "managed",
    "emails",
    "phones",
    "addresses",
    "website",
    "notes",
    "tags",
    "category_id",
    "owner",
    "external_refs",
];

pub fn is_field(name: &str) -> bool {
    FIELDS.contains(&name)
}

/// Copies one field from `from` into `to`.
pub fn copy_field(from: &ContactData, to: &mut ContactData, field: &str) {
    match field {
        "title" => to.title.clone_from(&from.title),
        "given_name" => to.given_name.clone_from(&from.given_name),
        "family_name" => to.family_name.clone_from(&from.family_name),
        "job_title" => to.job_title.clone_from(&from.job_title),
        "organisation_name" => to.organisation_name.clone_from(&from.organisation_name),
        "managed" => to.managed = from.managed,
        "emails" => to.emails.clone_from(&from.emails),
        "phones" => to.phones.clone_from(&from.phones),
        "addresses" => to.addresses.clone_from(&from.addresses),
        "website" => to.website.clone_from(&from.website),
        "notes" => to.notes.clone_from(&from.notes),
        "tags" => to.tags.clone_from(&from.tags),
        "category_id" => to.category_id.clone_from(&from.category_id),
        "owner" => to.owner.clone_from(&from.owner),
        "external_refs" => to.external_refs.clone_from(&from.external_refs),
        _ => debug_assert!(false, "unknown contact field {field}"),
    }
}

/// Whether the field holds different values in `a` and `b`.
pub fn differs(a: &ContactData, b: &ContactData, field: &str) -> bool {
    let mut only_a = ContactData::default();
    let mut only_b = ContactData::default();
    copy_field(a, &mut only_a, field);
    copy_field(b, &mut only_b, field);
    only_a != only_b
}

/// The field's value as a person reads it in a history.
pub fn render_field(data: &ContactData, field: &str) -> String {
    match field {
        "title" => data.title.clone(),
        "given_name" => data.given_name.clone(),
        "family_name" => data.family_name.clone(),
        "job_title" => data.job_title.clone(),
        "organisation_name" => data.organisation_name.clone(),
        "managed" => if data.managed { "yes" } else { "no" }.to_owned(),
        "emails" => join(data.emails.iter().map(|e| {
            let primary = if e.primary { " (primary)" } else { "" };
            format!("{}{primary}", e.address)
        })),
        "phones" => join(data.phones.iter().map(|p| p.number.clone())),
        "addresses" => join(data.addresses.iter().map(|a| {
            [&a.street, &a.postal_code, &a.city, &a.region, &a.country]
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| part.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })),
        "website" => data.website.clone(),
        "notes" => data.notes.clone(),
        "tags" => data.tags.join(", "),
        "category_id" => data.category_id.clone(),
        "owner" => data.owner.clone(),
        "external_refs" => join(
            data.external_refs
                .iter()
                .map(|r| format!("{}/{}", r.source, r.external_id)),
        ),
        _ => String::new(),
    }
}

/// Whether the field holds a value (for a creation's history entry).
pub fn is_set(data: &ContactData, field: &str) -> bool {
    !render_field(data, field).is_empty() && (field != "managed" || data.managed)
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_copies_and_renders() {
        let source = ContactData {
            title: "Dr".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            job_title: "Analyst".into(),
            organisation_name: "Engines".into(),
            managed: true,
            website: "https://example.org".into(),
            notes: "n".into(),
            tags: vec!["vip".into()],
            category_id: "c".into(),
            owner: "o".into(),
            ..Default::default()
        };
        let mut target = ContactData::default();
        for field in FIELDS {
            copy_field(&source, &mut target, field);
        }
        assert_eq!(source, target);
        assert_eq!(render_field(&source, "managed"), "yes");
        assert!(is_set(&source, "tags"));
        assert!(!is_set(&ContactData::default(), "managed"));
    }
}
