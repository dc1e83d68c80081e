//! The comparison of a survivor and its duplicate, apart from HTTP: each
//! field of both, the lists the survivor will hold, and the update that
//! keeps the values picked from the duplicate.

use liaison_proto::contacts::v1 as pb;

use super::super::entity::{ORGANISATION, PERSON};

/// One field of both contacts.
pub struct FieldRow {
    pub key: &'static str,
    pub label: &'static str,
    pub survivor: String,
    pub duplicate: String,
    /// Preselected: the duplicate's value, when the survivor has none.
    pub take_duplicate: bool,
}

impl FieldRow {
    pub fn differs(&self) -> bool {
        self.survivor != self.duplicate
    }
}

/// One list of both contacts, and what the survivor holds after.
pub struct ListRow {
    pub label: &'static str,
    pub survivor: Vec<String>,
    pub duplicate: Vec<String>,
    pub after: Vec<String>,
}

/// A contact as the merge page shows it.
pub struct Side {
    pub id: String,
    pub name: String,
    pub version: u64,
    pub relations: u64,
    /// Raw values of the fields a person may pick, by key.
    values: Vec<(&'static str, &'static str, String)>,
    lists: Vec<(&'static str, Vec<String>)>,
}

pub fn kind_of(contact: &pb::contact::Contact) -> &'static str {
    match contact {
        pb::contact::Contact::Person(_) => PERSON,
        pb::contact::Contact::Organisation(_) => ORGANISATION,
    }
}

pub fn address_line(address: &pb::PostalAddress) -> String {
    let place = [&address.postal_code, &address.city]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| part.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let line = [
        address.street.replace('\n', ", "),
        place,
        address.region.clone(),
        address.country.clone(),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    if address.label.is_empty() {
        line
    } else {
        format!("{}: {line}", address.label)
    }
}

pub fn labelled(value: &str, label: &str) -> String {
    if label.is_empty() {
        value.to_owned()
    } else {
        format!("{value} ({label})")
    }
}

impl Side {
    pub fn of(contact: pb::contact::Contact, relations: u64) -> Side {
        match contact {
            pb::contact::Contact::Person(person) => Side {
                name: format!("{} {}", person.given_name, person.family_name)
                    .trim()
                    .to_owned(),
                id: person.id,
                version: person.version,
                relations,
                values: vec![
                    ("title", "Title", person.title),
                    ("given_name", "Given name", person.given_name),
                    ("family_name", "Family name", person.family_name),
                    ("job_title", "Job title", person.job_title),
                    ("website", "Website", person.website),
                    ("notes", "Notes", person.notes),
                    ("category_id", "Category", person.category_id),
                ],
                lists: lists(person.emails, person.phones, person.addresses, person.tags),
            },
            pb::contact::Contact::Organisation(organisation) => Side {
                name: organisation.name.clone(),
                id: organisation.id,
                version: organisation.version,
                relations,
                values: vec![
                    ("name", "Name", organisation.name),
                    (
                        "managed",
                        "One of ours",
                        if organisation.managed { "yes" } else { "no" }.to_owned(),
                    ),
                    ("website", "Website", organisation.website),
                    ("notes", "Notes", organisation.notes),
                    ("category_id", "Category", organisation.category_id),
                ],
                lists: lists(
                    organisation.emails,
                    organisation.phones,
                    organisation.addresses,
                    organisation.tags,
                ),
            },
        }
    }

    pub fn value(&self, key: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, value)| value.as_str())
            .unwrap_or("")
    }
}

/// The lists as shown, each item with its label.
pub fn lists(
    emails: Vec<pb::Email>,
    phones: Vec<pb::Phone>,
    addresses: Vec<pb::PostalAddress>,
    tags: Vec<String>,
) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "Emails",
            emails
                .iter()
                .map(|email| labelled(&email.address, &email.label))
                .collect(),
        ),
        (
            "Phones",
            phones
                .iter()
                .map(|phone| labelled(&phone.number, &phone.label))
                .collect(),
        ),
        ("Addresses", addresses.iter().map(address_line).collect()),
        ("Tags", tags),
    ]
}

/// The survivor's items, then the duplicate's it lacks (compared without
/// case, as the merge itself compares emails and tags).
pub fn union(survivor: &[String], duplicate: &[String]) -> Vec<String> {
    let key = |item: &str| {
        item.split(" (")
            .next()
            .unwrap_or(item)
            .trim()
            .to_lowercase()
    };
    let mut after = survivor.to_vec();
    for item in duplicate {
        if !after.iter().any(|kept| key(kept) == key(item)) {
            after.push(item.clone());
        }
    }
    after
}

/// The comparison of both sides; `picked` are the keys whose duplicate
/// value was chosen (None: the defaults).
pub fn compare(
    survivor: &Side,
    duplicate: &Side,
    category_names: &[(String, String)],
    picked: Option<&[String]>,
) -> (Vec<FieldRow>, Vec<ListRow>) {
    let shown = |key: &str, value: &str| -> String {
        if key == "category_id" {
            category_names
                .iter()
                .find(|(id, _)| id == value)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| value.to_owned())
        } else {
            value.to_owned()
        }
    };
    let fields = survivor
        .values
        .iter()
        .map(|(key, label, value)| {
            let theirs = duplicate.value(key);
            FieldRow {
                key,
                label,
                survivor: shown(key, value),
                duplicate: shown(key, theirs),
                take_duplicate: match picked {
                    Some(picked) => picked.iter().any(|p| p == key),
                    None => value.is_empty() && !theirs.is_empty(),
                },
            }
        })
        .collect();
    let lists = survivor
        .lists
        .iter()
        .zip(&duplicate.lists)
        .map(|((label, ours), (_, theirs))| ListRow {
            label,
            survivor: ours.clone(),
            duplicate: theirs.clone(),
            after: union(ours, theirs),
        })
        .collect();
    (fields, lists)
}

/// The survivor's update that takes the picked values of the duplicate;
/// None when nothing is picked.
pub fn picked_update(
    kind: &str,
    survivor: &Side,
    duplicate: &Side,
    picked: &[String],
) -> Option<Update> {
    let taken: Vec<(&str, &str)> = survivor
        .values
        .iter()
        .map(|(key, _, ours)| (*key, ours.as_str()))
        .filter(|(key, _)| picked.iter().any(|p| p == key))
        .map(|(key, ours)| (key, ours, duplicate.value(key)))
        .filter(|(_, ours, theirs)| ours != theirs)
        .map(|(key, _, theirs)| (key, theirs))
        .collect();
    if taken.is_empty() {
        return None;
    }
    let take = |key: &str| {
        taken
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| (*value).to_owned())
    };
    let update = if kind == PERSON {
        Update::Person(pb::UpdatePersonRequest {
            id: survivor.id.clone(),
            expected_version: Some(survivor.version),
            title: take("title"),
            given_name: take("given_name"),
            family_name: take("family_name"),
            job_title: take("job_title"),
            website: take("website"),
            notes: take("notes"),
            category_id: take("category_id"),
            ..Default::default()
        })
    } else {
        Update::Organisation(pb::UpdateOrganisationRequest {
            id: survivor.id.clone(),
            expected_version: Some(survivor.version),
            name: take("name"),
            managed: take("managed").map(|value| value == "yes"),
            website: take("website"),
            notes: take("notes"),
            category_id: take("category_id"),
            ..Default::default()
        })
    };
    Some(update)
}

pub enum Update {
    Person(pb::UpdatePersonRequest),
    Organisation(pb::UpdateOrganisationRequest),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, given: &str, job: &str, emails: &[&str]) -> Side {
        Side::of(
            pb::contact::Contact::Person(pb::Person {
                id: id.into(),
                version: 2,
                given_name: given.into(),
                job_title: job.into(),
                emails: emails
                    .iter()
                    .map(|address| pb::Email {
                        address: (*address).into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            0,
        )
    }

    #[test]
    fn an_empty_field_defaults_to_the_duplicates_value_and_lists_are_joined() {
        let survivor = person("s", "Ada", "", &["ada@example.com"]);
        let duplicate = person(
            "d",
            "Ada L.",
            "Countess",
            &["ADA@example.com", "al@example.com"],
        );
        let (fields, lists) = compare(&survivor, &duplicate, &[], None);
        let given = fields
            .iter()
            .find(|f| f.key == "given_name")
            .expect("given name");
        assert!(
            given.differs() && !given.take_duplicate,
            "both set: the survivor's"
        );
        let job = fields
            .iter()
            .find(|f| f.key == "job_title")
            .expect("job title");
        assert!(job.take_duplicate, "only the duplicate has one");
        assert!(!fields
            .iter()
            .find(|f| f.key == "notes")
            .expect("notes")
            .differs());
        assert_eq!(lists[0].after, vec!["ada@example.com", "al@example.com"]);
    }

    #[test]
    fn only_picked_values_that_differ_are_written_with_the_version_shown() {
        let survivor = person("s", "Ada", "", &[]);
        let duplicate = person("d", "Ada", "Countess", &[]);
        assert!(picked_update(PERSON, &survivor, &duplicate, &[]).is_none());
        assert!(
            picked_update(PERSON, &survivor, &duplicate, &["given_name".into()]).is_none(),
            "the same value: nothing to write"
        );
        match picked_update(
            PERSON,
            &survivor,
            &duplicate,
            &["job_title".into(), "bogus".into()],
        ) {
            Some(Update::Person(update)) => {
                assert_eq!(update.job_title.as_deref(), Some("Countess"));
                assert_eq!(update.given_name, None);
                assert_eq!(update.expected_version, Some(2));
                assert_eq!(update.emails, None, "lists are the merge's to join");
            }
            _ => panic!("a person update"),
        }
    }

    #[test]
    fn an_organisation_can_take_the_duplicates_mark() {
        let side = |id: &str, managed: bool| {
            Side::of(
                pb::contact::Contact::Organisation(pb::Organisation {
                    id: id.into(),
                    name: "Acme".into(),
                    managed,
                    ..Default::default()
                }),
                0,
            )
        };
        match picked_update(
            ORGANISATION,
            &side("s", false),
            &side("d", true),
            &["managed".into()],
        ) {
            Some(Update::Organisation(update)) => assert_eq!(update.managed, Some(true)),
            _ => panic!("an organisation update"),
        }
    }
}
