//! Every saved field of a contact as its page shows it: emails and phones
//! as links with their label and primary mark, addresses with theirs, the
//! category by name, owner, external references, created and updated.

use std::collections::HashMap;

use liaison_proto::contacts::v1 as pb;

/// One line of the page's field list.
pub struct FieldRow {
    pub label: &'static str,
    pub items: Vec<FieldItem>,
}

pub struct FieldItem {
    pub text: String,
    /// `mailto:`, `tel:` or the website; empty: plain text.
    pub href: String,
    /// The item's own label, and "primary" when it is.
    pub note: String,
}

impl FieldItem {
    fn text(text: impl Into<String>) -> Self {
        FieldItem {
            text: text.into(),
            href: String::new(),
            note: String::new(),
        }
    }
}

/// Field rows of what both kinds share, after their own.
pub struct Shared {
    pub emails: Vec<pb::Email>,
    pub phones: Vec<pb::Phone>,
    pub addresses: Vec<pb::PostalAddress>,
    pub website: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub category_id: String,
    pub owner: String,
    pub external_refs: Vec<pb::ExternalRef>,
    pub created_at: Option<prost_types::Timestamp>,
    pub updated_at: Option<prost_types::Timestamp>,
}

/// The rows with at least one item, in the page's order; `categories`
/// names category ids.
pub fn rows(
    own: Vec<(&'static str, String)>,
    shared: Shared,
    categories: &HashMap<String, String>,
) -> Vec<FieldRow> {
    let mut rows: Vec<FieldRow> = own
        .into_iter()
        .map(|(label, value)| FieldRow {
            label,
            items: non_empty(value).into_iter().map(FieldItem::text).collect(),
        })
        .collect();
    let category = match categories.get(&shared.category_id) {
        Some(name) => vec![FieldItem::text(name.clone())],
        None if shared.category_id.is_empty() => Vec::new(),
        None => vec![FieldItem::text("(a deleted category)")],
    };
    rows.push(FieldRow {
        label: "Category",
        items: category,
    });
    rows.push(FieldRow {
        label: "Emails",
        items: shared
            .emails
            .into_iter()
            .map(|email| FieldItem {
                href: format!("mailto:{}", email.address),
                note: note(&email.label, email.primary),
                text: email.address,
            })
            .collect(),
    });
    rows.push(FieldRow {
        label: "Phones",
        items: shared
            .phones
            .into_iter()
            .map(|phone| FieldItem {
                href: format!("tel:{}", phone.number.replace([' ', '.', '-'], "")),
                note: note(&phone.label, phone.primary),
                text: phone.number,
            })
            .collect(),
    });
    rows.push(FieldRow {
        label: "Addresses",
        items: shared
            .addresses
            .into_iter()
            .map(|address| FieldItem {
                note: address.label.clone(),
                text: postal(&address),
                href: String::new(),
            })
            .collect(),
    });
    let website = non_empty(shared.website).map(|site| FieldItem {
        href: if site.starts_with("http://") || site.starts_with("https://") {
            site.clone()
        } else {
            format!("https://{site}")
        },
        text: site,
        note: String::new(),
    });
    rows.push(FieldRow {
        label: "Website",
        items: website.into_iter().collect(),
    });
    rows.push(FieldRow {
        label: "Tags",
        items: shared.tags.into_iter().map(FieldItem::text).collect(),
    });
    for (label, value) in [("Owner", shared.owner), ("Notes", shared.notes)] {
        rows.push(FieldRow {
            label,
            items: non_empty(value).into_iter().map(FieldItem::text).collect(),
        });
    }
    rows.push(FieldRow {
        label: "External references",
        items: shared
            .external_refs
            .into_iter()
            .map(|reference| {
                FieldItem::text(format!("{}: {}", reference.source, reference.external_id))
            })
            .collect(),
    });
    for (label, at) in [
        ("Created", shared.created_at),
        ("Updated", shared.updated_at),
    ] {
        let micros = at.map_or(0, |at| {
            at.seconds.saturating_mul(1_000_000) + i64::from(at.nanos / 1_000)
        });
        rows.push(FieldRow {
            label,
            items: non_empty(super::minute(micros))
                .into_iter()
                .map(FieldItem::text)
                .collect(),
        });
    }
    rows.retain(|row| !row.items.is_empty());
    rows
}

fn non_empty(value: String) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn note(label: &str, primary: bool) -> String {
    match (label.trim(), primary) {
        ("", false) => String::new(),
        ("", true) => "primary".to_owned(),
        (label, false) => label.to_owned(),
        (label, true) => format!("{label}, primary"),
    }
}

/// `12 rue X, 33000 Bordeaux, FR`.
fn postal(address: &pb::PostalAddress) -> String {
    let town = [address.postal_code.trim(), address.city.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    [
        address.street.trim(),
        town.as_str(),
        address.region.trim(),
        address.country.trim(),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            emails: vec![pb::Email {
                address: "ada@example.org".into(),
                label: "work".into(),
                primary: true,
            }],
            phones: vec![pb::Phone {
                number: "+33 5 56 00 00 00".into(),
                ..Default::default()
            }],
            addresses: vec![pb::PostalAddress {
                label: "office".into(),
                street: "12 rue Sainte-Catherine".into(),
                postal_code: "33000".into(),
                city: "Bordeaux".into(),
                country: "FR".into(),
                ..Default::default()
            }],
            website: "example.org".into(),
            notes: String::new(),
            tags: vec!["vip".into()],
            category_id: "c1".into(),
            owner: String::new(),
            external_refs: vec![pb::ExternalRef {
                source: "alumni-feed".into(),
                external_id: "42".into(),
            }],
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn every_saved_field_is_shown_with_its_link_and_marks() {
        let categories = HashMap::from([("c1".to_owned(), "Alumnus".to_owned())]);
        let rows = rows(
            vec![("Job title", "Engineer".into())],
            shared(),
            &categories,
        );
        type Shown<'a> = (&'a str, Vec<(&'a str, &'a str, &'a str)>);
        let shown: Vec<Shown> = rows
            .iter()
            .map(|row| {
                (
                    row.label,
                    row.items
                        .iter()
                        .map(|i| (i.text.as_str(), i.href.as_str(), i.note.as_str()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("Job title", vec![("Engineer", "", "")]),
                ("Category", vec![("Alumnus", "", "")]),
                (
                    "Emails",
                    vec![("ada@example.org", "mailto:ada@example.org", "work, primary")]
                ),
                (
                    "Phones",
                    vec![("+33 5 56 00 00 00", "tel:+33556000000", "")]
                ),
                (
                    "Addresses",
                    vec![("12 rue Sainte-Catherine, 33000 Bordeaux, FR", "", "office")]
                ),
                ("Website", vec![("example.org", "https://example.org", "")]),
                ("Tags", vec![("vip", "", "")]),
                ("External references", vec![("alumni-feed: 42", "", "")]),
            ]
        );
    }

    #[test]
    fn a_category_no_longer_known_is_said_so() {
        let rows = rows(Vec::new(), shared(), &HashMap::new());
        assert_eq!(rows[0].label, "Category");
        assert_eq!(rows[0].items[0].text, "(a deleted category)");
    }
}
