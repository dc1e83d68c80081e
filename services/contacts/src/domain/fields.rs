//! The fields of a contact, for partial updates and history: an exhaustive
//! enum, so that a field added to `ContactData` does not compile until it is
//! named here and every use of a field handles it.

use liaison_proto::contacts::v1::ContactData;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Title,
    GivenName,
    FamilyName,
    JobTitle,
    OrganisationName,
    Managed,
    Emails,
    Phones,
    Addresses,
    Website,
    Notes,
    Tags,
    CategoryId,
    Owner,
    ExternalRefs,
}

impl Field {
    /// Every field, in the order a history lists them.
    pub const ALL: [Field; 15] = [
        Field::Title,
        Field::GivenName,
        Field::FamilyName,
        Field::JobTitle,
        Field::OrganisationName,
        Field::Managed,
        Field::Emails,
        Field::Phones,
        Field::Addresses,
        Field::Website,
        Field::Notes,
        Field::Tags,
        Field::CategoryId,
        Field::Owner,
        Field::ExternalRefs,
    ];

    /// The name events (`ContactUpdated.changed`) and histories use.
    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::JobTitle => "job_title",
            Field::OrganisationName => "organisation_name",
            Field::Managed => "managed",
            Field::Emails => "emails",
            Field::Phones => "phones",
            Field::Addresses => "addresses",
            Field::Website => "website",
            Field::Notes => "notes",
            Field::Tags => "tags",
            Field::CategoryId => "category_id",
            Field::Owner => "owner",
            Field::ExternalRefs => "external_refs",
        }
    }

    /// The field a name in an event stands for; `None` for a name this
    /// version does not know (written by a newer one).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Copies this field's value from `from` into `to`.
    pub fn copy(self, from: &ContactData, to: &mut ContactData) {
        match self {
            Field::Title => to.title.clone_from(&from.title),
            Field::GivenName => to.given_name.clone_from(&from.given_name),
            Field::FamilyName => to.family_name.clone_from(&from.family_name),
            Field::JobTitle => to.job_title.clone_from(&from.job_title),
            Field::OrganisationName => to.organisation_name.clone_from(&from.organisation_name),
            Field::Managed => to.managed = from.managed,
            Field::Emails => to.emails.clone_from(&from.emails),
            Field::Phones => to.phones.clone_from(&from.phones),
            Field::Addresses => to.addresses.clone_from(&from.addresses),
            Field::Website => to.website.clone_from(&from.website),
            Field::Notes => to.notes.clone_from(&from.notes),
            Field::Tags => to.tags.clone_from(&from.tags),
            Field::CategoryId => to.category_id.clone_from(&from.category_id),
            Field::Owner => to.owner.clone_from(&from.owner),
            Field::ExternalRefs => to.external_refs.clone_from(&from.external_refs),
        }
    }

    /// Whether this field holds different values in `a` and `b`.
    pub fn differs(self, a: &ContactData, b: &ContactData) -> bool {
        match self {
            Field::Title => a.title != b.title,
            Field::GivenName => a.given_name != b.given_name,
            Field::FamilyName => a.family_name != b.family_name,
            Field::JobTitle => a.job_title != b.job_title,
            Field::OrganisationName => a.organisation_name != b.organisation_name,
            Field::Managed => a.managed != b.managed,
            Field::Emails => a.emails != b.emails,
            Field::Phones => a.phones != b.phones,
            Field::Addresses => a.addresses != b.addresses,
            Field::Website => a.website != b.website,
            Field::Notes => a.notes != b.notes,
            Field::Tags => a.tags != b.tags,
            Field::CategoryId => a.category_id != b.category_id,
            Field::Owner => a.owner != b.owner,
            Field::ExternalRefs => a.external_refs != b.external_refs,
        }
    }

    /// The field's value as a person reads it in a history.
    pub fn render(self, data: &ContactData) -> String {
        match self {
            Field::Title => data.title.clone(),
            Field::GivenName => data.given_name.clone(),
            Field::FamilyName => data.family_name.clone(),
            Field::JobTitle => data.job_title.clone(),
            Field::OrganisationName => data.organisation_name.clone(),
            Field::Managed => if data.managed { "yes" } else { "no" }.to_owned(),
            Field::Emails => join(data.emails.iter().map(|e| {
                let primary = if e.primary { " (primary)" } else { "" };
                format!("{}{primary}", e.address)
            })),
            Field::Phones => join(data.phones.iter().map(|p| p.number.clone())),
            Field::Addresses => join(data.addresses.iter().map(|a| {
                [&a.street, &a.postal_code, &a.city, &a.region, &a.country]
                    .iter()
                    .filter(|part| !part.is_empty())
                    .map(|part| part.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })),
            Field::Website => data.website.clone(),
            Field::Notes => data.notes.clone(),
            Field::Tags => data.tags.join(", "),
            Field::CategoryId => data.category_id.clone(),
            Field::Owner => data.owner.clone(),
            Field::ExternalRefs => join(
                data.external_refs
                    .iter()
                    .map(|r| format!("{}/{}", r.source, r.external_id)),
            ),
        }
    }

    /// Whether the field holds a value (for a creation's history entry).
    pub fn is_set(self, data: &ContactData) -> bool {
        match self {
            Field::Managed => data.managed,
            other => !other.render(data).is_empty(),
        }
    }
}

/// Names every field of `ContactData` once: a field added to the proto
/// breaks this destructuring until it gets its [`Field`].
#[allow(dead_code)]
fn every_data_field_has_a_field(data: ContactData) -> [Field; 15] {
    let ContactData {
        title: _,
        given_name: _,
        family_name: _,
        job_title: _,
        organisation_name: _,
        managed: _,
        emails: _,
        phones: _,
        addresses: _,
        website: _,
        notes: _,
        tags: _,
        category_id: _,
        owner: _,
        external_refs: _,
    } = data;
    Field::ALL
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> ContactData {
        ContactData {
            title: "Dr".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            job_title: "Analyst".into(),
            organisation_name: "Engines".into(),
            managed: true,
            emails: vec![liaison_proto::contacts::v1::Email {
                address: "ada@engines.example".into(),
                primary: true,
                ..Default::default()
            }],
            phones: vec![liaison_proto::contacts::v1::Phone {
                number: "+33612345678".into(),
                ..Default::default()
            }],
            addresses: vec![liaison_proto::contacts::v1::PostalAddress {
                city: "Bordeaux".into(),
                ..Default::default()
            }],
            website: "https://example.org".into(),
            notes: "n".into(),
            tags: vec!["vip".into()],
            category_id: "c".into(),
            owner: "o".into(),
            external_refs: vec![liaison_proto::contacts::v1::ExternalRef {
                source: "alumni".into(),
                external_id: "42".into(),
            }],
        }
    }

    #[test]
    fn every_field_copies_differs_and_renders() {
        let source = filled();
        let mut target = ContactData::default();
        for field in Field::ALL {
            assert!(field.differs(&source, &target), "{field:?}");
            assert!(field.is_set(&source), "{field:?}");
            assert!(!field.is_set(&ContactData::default()), "{field:?}");
            field.copy(&source, &mut target);
            assert!(!field.differs(&source, &target), "{field:?}");
        }
        assert_eq!(source, target);
        assert_eq!(Field::Managed.render(&source), "yes");
        assert_eq!(
            Field::Emails.render(&source),
            "ada@engines.example (primary)"
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
        assert_eq!(Field::from_name("shoe_size"), None);
    }
}
