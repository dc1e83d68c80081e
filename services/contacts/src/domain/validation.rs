//! Bad input gets an error naming the field and the value; good input is
//! normalised (trimmed, phones in E.164, primary flags settled).

use std::str::FromStr;

use email_address::EmailAddress;
use liaison_proto::contacts::v1::{ContactData, Email, ExternalRef, Phone, PostalAddress};

use super::contact::Kind;
use crate::ContactsError;

pub const MAX_NAME: usize = 200;
pub const MAX_NOTES: usize = 10_000;
pub const MAX_URL: usize = 2_048;
pub const MAX_EMAIL: usize = 254;
pub const MAX_LABEL: usize = 50;
pub const MAX_TAG: usize = 64;
pub const MAX_ITEMS: usize = 50;

/// Validates and normalises every field of a contact of `kind`.
pub fn normalise(kind: Kind, data: ContactData) -> Result<ContactData, ContactsError> {
    let ContactData {
        title,
        given_name,
        family_name,
        job_title,
        organisation_name,
        managed,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
    } = data;
    let normalised = ContactData {
        title: text("title", &title, MAX_NAME)?,
        given_name: text("given_name", &given_name, MAX_NAME)?,
        family_name: text("family_name", &family_name, MAX_NAME)?,
        job_title: text("job_title", &job_title, MAX_NAME)?,
        organisation_name: text("name", &organisation_name, MAX_NAME)?,
        managed,
        emails: normalise_emails(emails)?,
        phones: normalise_phones(phones)?,
        addresses: normalise_addresses(addresses)?,
        website: normalise_website(&website)?,
        notes: multiline("notes", &notes, MAX_NOTES)?,
        tags: normalise_tags(tags)?,
        category_id: optional_id("category_id", &category_id)?,
        owner: text("owner", &owner, MAX_NAME)?,
        external_refs: normalise_external_refs(external_refs)?,
    };
    match kind {
        Kind::Person => {
            if normalised.given_name.is_empty() && normalised.family_name.is_empty() {
                return Err(ContactsError::invalid(
                    "family_name",
                    "a person needs a given name or a family name",
                ));
            }
        }
        Kind::Organisation => {
            if normalised.organisation_name.is_empty() {
                return Err(ContactsError::invalid(
                    "name",
                    "an organisation needs a name",
                ));
            }
        }
    }
    Ok(normalised)
}

/// A single-line text: trimmed, no control characters, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ContactsError> {
    let trimmed = value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} contains control characters"),
        ));
    }
    check_length(field, trimmed, max)?;
    Ok(trimmed.to_owned())
}

fn multiline(field: &str, value: &str, max: usize) -> Result<String, ContactsError> {
    let trimmed = value.trim();
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ContactsError::invalid(field, "contains control characters"));
    }
    check_length(field, trimmed, max)?;
    Ok(trimmed.to_owned())
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), ContactsError> {
    let length = value.chars().count();
    if length > max {
        let preview: String = value.chars().take(20).collect();
        return Err(ContactsError::invalid(
            field,
            format!("{preview:?}... is {length} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn check_count(field: &str, count: usize) -> Result<(), ContactsError> {
    if count > MAX_ITEMS {
        return Err(ContactsError::invalid(
            field,
            format!("{count} items given; at most {MAX_ITEMS} are allowed"),
        ));
    }
    Ok(())
}

fn optional_id(field: &str, value: &str) -> Result<String, ContactsError> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    super::parse_id(field, value)
}

/// The address as matched for uniqueness: the whole address in lowercase.
pub fn email_key(address: &str) -> String {
    address.trim().to_lowercase()
}

pub fn normalise_email_address(field: &str, address: &str) -> Result<String, ContactsError> {
    let trimmed = address.trim();
    check_length(field, trimmed, MAX_EMAIL)?;
    if !EmailAddress::is_valid(trimmed) || !trimmed.contains('@') {
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} is not a valid email address"),
        ));
    }
    let Some((local, domain)) = trimmed.rsplit_once('@') else {
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} is not a valid email address"),
        ));
    };
    if !domain.contains('.') || domain.starts_with('[') {
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} has no valid domain"),
        ));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

fn normalise_emails(emails: Vec<Email>) -> Result<Vec<Email>, ContactsError> {
    check_count("emails", emails.len())?;
    let mut seen: Vec<String> = Vec::with_capacity(emails.len());
    let mut normalised = Vec::with_capacity(emails.len());
    for (index, email) in emails.into_iter().enumerate() {
        let Email {
            address,
            label,
            primary,
        } = email;
        let address = normalise_email_address(&format!("emails[{index}].address"), &address)?;
        let key = email_key(&address);
        if seen.contains(&key) {
            return Err(ContactsError::invalid(
                format!("emails[{index}].address"),
                format!("{address:?} is listed twice"),
            ));
        }
        seen.push(key);
        normalised.push(Email {
            address,
            label: text(&format!("emails[{index}].label"), &label, MAX_LABEL)?,
            primary,
        });
    }
    settle_primary("emails", &mut normalised, |e| &mut e.primary)?;
    Ok(normalised)
}

/// At most one primary item; the first one when none is marked.
fn settle_primary<T>(
    field: &str,
    items: &mut [T],
    primary: impl Fn(&mut T) -> &mut bool,
) -> Result<(), ContactsError> {
    let marked = items
        .iter_mut()
        .map(|item| *primary(item))
        .filter(|is| *is)
        .count();
    if marked > 1 {
        return Err(ContactsError::invalid(
            field,
            format!("{marked} items are marked primary; at most one may be"),
        ));
    }
    if marked == 0 {
        if let Some(first) = items.first_mut() {
            *primary(first) = true;
        }
    }
    Ok(())
}

fn normalise_phones(phones: Vec<Phone>) -> Result<Vec<Phone>, ContactsError> {
    check_count("phones", phones.len())?;
    let mut normalised = Vec::with_capacity(phones.len());
    for (index, phone) in phones.into_iter().enumerate() {
        let Phone {
            number,
            label,
            primary,
            country,
        } = phone;
        let field = format!("phones[{index}].number");
        let country = normalise_country(&format!("phones[{index}].country"), &country)?;
        let number = normalise_phone_number(&field, &number, &country)?;
        if normalised.iter().any(|p: &Phone| p.number == number) {
            return Err(ContactsError::invalid(
                field,
                format!("{number:?} is listed twice"),
            ));
        }
        normalised.push(Phone {
            number,
            label: text(&format!("phones[{index}].label"), &label, MAX_LABEL)?,
            primary,
            country,
        });
    }
    settle_primary("phones", &mut normalised, |p| &mut p.primary)?;
    Ok(normalised)
}

/// Loads the phone-number metadata: a few hundred milliseconds, once per
/// process, that the caller spends off the request path.
pub fn load_phone_metadata() {
    let _ = phonenumber::parse(None, "+33612345678");
}

/// E.164 when the country is known (given, or a leading `+`); otherwise the
/// number as entered, if it looks like one.
pub fn normalise_phone_number(
    field: &str,
    number: &str,
    country: &str,
) -> Result<String, ContactsError> {
    let trimmed = number.trim();
    check_length(field, trimmed, 40)?;
    if trimmed.is_empty() {
        return Err(ContactsError::invalid(field, "a phone number is required"));
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        || trimmed.chars().filter(char::is_ascii_digit).count() < 3
    {
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} is not a phone number"),
        ));
    }
    let region = if country.is_empty() {
        None
    } else {
        phonenumber::country::Id::from_str(country).ok()
    };
    if region.is_none() && !trimmed.starts_with('+') {
        return Ok(trimmed.to_owned());
    }
    let parsed = phonenumber::parse(region, trimmed)
        .map_err(|_| ContactsError::invalid(field, format!("{trimmed:?} is not a phone number")))?;
    if !phonenumber::is_valid(&parsed) {
        let place = if country.is_empty() {
            "its country code".to_owned()
        } else {
            country.to_owned()
        };
        return Err(ContactsError::invalid(
            field,
            format!("{trimmed:?} is not a valid number for {place}"),
        ));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

fn normalise_country(field: &str, country: &str) -> Result<String, ContactsError> {
    let upper = country.trim().to_ascii_uppercase();
    if upper.is_empty() {
        return Ok(upper);
    }
    if upper.len() != 2 || phonenumber::country::Id::from_str(&upper).is_err() {
        return Err(ContactsError::invalid(
            field,
            format!("{country:?} is not an ISO 3166-1 alpha-2 country code"),
        ));
    }
    Ok(upper)
}

fn normalise_addresses(addresses: Vec<PostalAddress>) -> Result<Vec<PostalAddress>, ContactsError> {
    check_count("addresses", addresses.len())?;
    addresses
        .into_iter()
        .enumerate()
        .map(|(index, address)| {
            let PostalAddress {
                label,
                street,
                postal_code,
                city,
                region,
                country,
            } = address;
            let field = |name: &str| format!("addresses[{index}].{name}");
            Ok(PostalAddress {
                label: text(&field("label"), &label, MAX_LABEL)?,
                street: multiline(&field("street"), &street, MAX_NAME * 2)?,
                postal_code: text(&field("postal_code"), &postal_code, 20)?,
                city: text(&field("city"), &city, MAX_NAME)?,
                region: text(&field("region"), &region, MAX_NAME)?,
                country: normalise_country(&field("country"), &country)?,
            })
        })
        .collect()
}

fn normalise_website(website: &str) -> Result<String, ContactsError> {
    let trimmed = website.trim();
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check_length("website", trimmed, MAX_URL)?;
    let with_scheme = if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        trimmed.to_owned()
    } else if trimmed.contains("://") {
        return Err(ContactsError::invalid(
            "website",
            format!("{trimmed:?} must be an http or https address"),
        ));
    } else {
        format!("https://{trimmed}")
    };
    let host = with_scheme
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    if host.is_empty() || !host.contains('.') || with_scheme.chars().any(char::is_whitespace) {
        return Err(ContactsError::invalid(
            "website",
            format!("{trimmed:?} is not a web address"),
        ));
    }
    Ok(with_scheme)
}

fn normalise_tags(tags: Vec<String>) -> Result<Vec<String>, ContactsError> {
    check_count("tags", tags.len())?;
    let mut normalised: Vec<String> = Vec::with_capacity(tags.len());
    for (index, tag) in tags.iter().enumerate() {
        let tag = text(&format!("tags[{index}]"), tag, MAX_TAG)?;
        if tag.is_empty() {
            return Err(ContactsError::invalid(
                format!("tags[{index}]"),
                "a tag cannot be empty",
            ));
        }
        if !normalised.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            normalised.push(tag);
        }
    }
    Ok(normalised)
}

fn normalise_external_refs(refs: Vec<ExternalRef>) -> Result<Vec<ExternalRef>, ContactsError> {
    check_count("external_refs", refs.len())?;
    let mut normalised: Vec<ExternalRef> = Vec::with_capacity(refs.len());
    for (index, reference) in refs.into_iter().enumerate() {
        let source = text(
            &format!("external_refs[{index}].source"),
            &reference.source,
            MAX_NAME,
        )?;
        let external_id = text(
            &format!("external_refs[{index}].external_id"),
            &reference.external_id,
            MAX_NAME,
        )?;
        if source.is_empty() || external_id.is_empty() {
            return Err(ContactsError::invalid(
                format!("external_refs[{index}]"),
                "an external reference needs a source and an external id",
            ));
        }
        let reference = ExternalRef {
            source,
            external_id,
        };
        if normalised.contains(&reference) {
            return Err(ContactsError::invalid(
                format!("external_refs[{index}]"),
                format!(
                    "{}/{} is listed twice",
                    reference.source, reference.external_id
                ),
            ));
        }
        normalised.push(reference);
    }
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(given: &str) -> ContactData {
        ContactData {
            given_name: given.into(),
            family_name: "Dupont".into(),
            ..Default::default()
        }
    }

    fn field_of(error: ContactsError) -> String {
        match error {
            ContactsError::InvalidArgument { field, .. } => field,
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn trims_names_and_requires_one() {
        let data = normalise(Kind::Person, person("  Marcel ")).expect("valid");
        assert_eq!(data.given_name, "Marcel");
        let error = normalise(Kind::Person, ContactData::default()).expect_err("nameless");
        assert_eq!(field_of(error), "family_name");
        let error = normalise(Kind::Organisation, ContactData::default()).expect_err("nameless");
        assert_eq!(field_of(error), "name");
    }

    #[test]
    fn refuses_over_long_and_control_characters() {
        let error = normalise(Kind::Person, person(&"x".repeat(201))).expect_err("long");
        assert!(error.to_string().contains("201 characters"), "{error}");
        let error = normalise(Kind::Person, person("Mar\u{0}cel")).expect_err("control");
        assert_eq!(field_of(error), "given_name");
    }

    #[test]
    fn emails_are_checked_and_first_becomes_primary() {
        let mut data = person("Marcel");
        data.emails = vec![
            Email {
                address: "marcel@UnTel.FR".into(),
                ..Default::default()
            },
            Email {
                address: "m.dupont@example.org".into(),
                ..Default::default()
            },
        ];
        let data = normalise(Kind::Person, data).expect("valid");
        assert_eq!(data.emails[0].address, "marcel@untel.fr");
        assert!(data.emails[0].primary && !data.emails[1].primary);

        let mut bad = person("Marcel");
        bad.emails = vec![Email {
            address: "marcel@".into(),
            ..Default::default()
        }];
        let error = normalise(Kind::Person, bad).expect_err("bad email");
        assert!(error.to_string().contains("\"marcel@\""), "{error}");
        assert_eq!(field_of(error), "emails[0].address");

        let mut twice = person("Marcel");
        twice.emails = vec![
            Email {
                address: "a@b.fr".into(),
                primary: true,
                ..Default::default()
            },
            Email {
                address: "c@b.fr".into(),
                primary: true,
                ..Default::default()
            },
        ];
        assert_eq!(
            field_of(normalise(Kind::Person, twice).expect_err("two primaries")),
            "emails"
        );

        let mut duplicate = person("Marcel");
        duplicate.emails = vec![
            Email {
                address: "a@b.fr".into(),
                ..Default::default()
            },
            Email {
                address: "A@B.fr".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            field_of(normalise(Kind::Person, duplicate).expect_err("dup")),
            "emails[1].address"
        );
    }

    #[test]
    fn phones_become_e164_when_the_country_is_known() {
        assert_eq!(
            normalise_phone_number("p", "06 12 34 56 78", "FR").expect("fr"),
            "+33612345678"
        );
        assert_eq!(
            normalise_phone_number("p", "+44 20 7946 0958", "").expect("uk"),
            "+442079460958"
        );
        assert_eq!(
            normalise_phone_number("p", "0612 345", "").expect("kept"),
            "0612 345"
        );
        let error = normalise_phone_number("p", "12", "FR").expect_err("too short");
        assert!(error.to_string().contains("\"12\""));
        let error = normalise_phone_number("p", "01 02", "FR").expect_err("invalid for FR");
        assert!(error.to_string().contains("FR"), "{error}");
        assert!(normalise_phone_number("p", "call me", "").is_err());
        let mut data = person("Marcel");
        data.phones = vec![Phone {
            number: "0612345678".into(),
            country: "xx".into(),
            ..Default::default()
        }];
        assert_eq!(
            field_of(normalise(Kind::Person, data).expect_err("country")),
            "phones[0].country"
        );
    }

    #[test]
    fn website_gets_a_scheme_and_must_be_a_web_address() {
        let mut data = person("Marcel");
        data.website = "www.untel.fr".into();
        assert_eq!(
            normalise(Kind::Person, data).expect("valid").website,
            "https://www.untel.fr"
        );
        let mut data = person("Marcel");
        data.website = "ftp://untel.fr".into();
        assert_eq!(
            field_of(normalise(Kind::Person, data).expect_err("ftp")),
            "website"
        );
    }

    #[test]
    fn tags_are_deduplicated_and_references_need_both_parts() {
        let mut data = person("Marcel");
        data.tags = vec!["VIP".into(), "vip".into(), "alumni".into()];
        assert_eq!(
            normalise(Kind::Person, data).expect("valid").tags,
            vec!["VIP", "alumni"]
        );
        let mut data = person("Marcel");
        data.external_refs = vec![ExternalRef {
            source: "alumni-feed".into(),
            external_id: " ".into(),
        }];
        assert_eq!(
            field_of(normalise(Kind::Person, data).expect_err("ref")),
            "external_refs[0]"
        );
        let mut data = person("Marcel");
        data.category_id = "not-a-uuid".into();
        assert_eq!(
            field_of(normalise(Kind::Person, data).expect_err("cat")),
            "category_id"
        );
    }
}
