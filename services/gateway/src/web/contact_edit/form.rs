//! The edit form as a model, apart from HTTP: a contact's rows as the
//! form starts them, the form read back from what was posted (rows by
//! number, blank rows dropped, a form this page did not send refused), and
//! the update requests it makes.

use std::collections::HashMap;

use liaison_proto::contacts::v1 as pb;

use crate::GatewayError;

/// More rows than a contact may hold (50 per list) plus the blank ones:
/// a higher row number is not a form this page sent.
pub const MAX_ROWS: usize = 60;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailRow {
    pub address: String,
    pub label: String,
    pub invalid: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhoneRow {
    pub number: String,
    pub label: String,
    pub country: String,
    pub invalid: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressRow {
    pub label: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub region: String,
    pub country: String,
    pub invalid: bool,
}

impl AddressRow {
    pub fn is_blank(&self) -> bool {
        [
            &self.label,
            &self.street,
            &self.postal_code,
            &self.city,
            &self.region,
            &self.country,
        ]
        .iter()
        .all(|value| value.trim().is_empty())
    }
}

/// The form's values, as shown and as sent back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EditForm {
    pub organisation: bool,
    pub version: u64,
    pub name: String,
    pub managed: bool,
    pub title: String,
    pub given_name: String,
    pub family_name: String,
    pub job_title: String,
    pub website: String,
    pub notes: String,
    pub tags: String,
    pub category: String,
    pub emails: Vec<EmailRow>,
    /// Row number of the primary email.
    pub email_primary: usize,
    pub phones: Vec<PhoneRow>,
    pub phone_primary: usize,
    pub addresses: Vec<AddressRow>,
    pub allow_shared_email: bool,
}

impl EditForm {
    pub fn of_person(person: pb::Person) -> Self {
        let mut form = EditForm {
            organisation: false,
            version: person.version,
            title: person.title,
            given_name: person.given_name,
            family_name: person.family_name,
            job_title: person.job_title,
            website: person.website,
            notes: person.notes,
            tags: person.tags.join(", "),
            category: person.category_id,
            ..Default::default()
        };
        form.fill_lists(person.emails, person.phones, person.addresses);
        form
    }

    pub fn of_organisation(organisation: pb::Organisation) -> Self {
        let mut form = EditForm {
            organisation: true,
            version: organisation.version,
            name: organisation.name,
            managed: organisation.managed,
            website: organisation.website,
            notes: organisation.notes,
            tags: organisation.tags.join(", "),
            category: organisation.category_id,
            ..Default::default()
        };
        form.fill_lists(
            organisation.emails,
            organisation.phones,
            organisation.addresses,
        );
        form
    }

    pub fn fill_lists(
        &mut self,
        emails: Vec<pb::Email>,
        phones: Vec<pb::Phone>,
        addresses: Vec<pb::PostalAddress>,
    ) {
        self.email_primary = emails.iter().position(|e| e.primary).unwrap_or(0);
        self.emails = emails
            .into_iter()
            .map(|email| EmailRow {
                address: email.address,
                label: email.label,
                invalid: false,
            })
            .collect();
        self.phone_primary = phones.iter().position(|p| p.primary).unwrap_or(0);
        self.phones = phones
            .into_iter()
            .map(|phone| PhoneRow {
                number: phone.number,
                label: phone.label,
                country: phone.country,
                invalid: false,
            })
            .collect();
        self.addresses = addresses
            .into_iter()
            .map(|address| AddressRow {
                label: address.label,
                street: address.street,
                postal_code: address.postal_code,
                city: address.city,
                region: address.region,
                country: address.country,
                invalid: false,
            })
            .collect();
        self.add_blank_rows();
    }

    /// One empty row at the end of each list, to add an item.
    pub fn add_blank_rows(&mut self) {
        if self
            .emails
            .last()
            .is_none_or(|row| !row.address.trim().is_empty())
        {
            self.emails.push(EmailRow::default());
        }
        if self
            .phones
            .last()
            .is_none_or(|row| !row.number.trim().is_empty())
        {
            self.phones.push(PhoneRow::default());
        }
        if self.addresses.last().is_none_or(|row| !row.is_blank()) {
            self.addresses.push(AddressRow::default());
        }
    }

    /// Reads a posted form. Row fields are named `emails-3-address`.
    pub fn parse(
        organisation: bool,
        fields: &HashMap<String, String>,
    ) -> Result<Self, GatewayError> {
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let version = text("version");
        let version = version.trim().parse::<u64>().map_err(|_| {
            GatewayError::invalid("version", "the form lacks the version it was read at")
        })?;
        let primary = |name: &str| -> Result<usize, GatewayError> {
            match fields.get(name).map(|value| value.trim()) {
                None | Some("") => Ok(0),
                Some(value) => value.parse::<usize>().map_err(|_| {
                    GatewayError::invalid(name, format!("{value:?} is not a row number"))
                }),
            }
        };
        let emails = rows(fields, "emails", |cell| EmailRow {
            address: cell("address"),
            label: cell("label"),
            invalid: false,
        })?;
        let phones = rows(fields, "phones", |cell| PhoneRow {
            number: cell("number"),
            label: cell("label"),
            country: cell("country"),
            invalid: false,
        })?;
        let addresses = rows(fields, "addresses", |cell| AddressRow {
            label: cell("label"),
            street: cell("street"),
            postal_code: cell("postal_code"),
            city: cell("city"),
            region: cell("region"),
            country: cell("country"),
            invalid: false,
        })?;
        Ok(EditForm {
            organisation,
            version,
            name: text("name"),
            managed: fields.contains_key("managed"),
            title: text("title"),
            given_name: text("given_name"),
            family_name: text("family_name"),
            job_title: text("job_title"),
            website: text("website"),
            notes: text("notes"),
            tags: text("tags"),
            category: text("category"),
            emails,
            email_primary: primary("email_primary")?,
            phones,
            phone_primary: primary("phone_primary")?,
            addresses,
            allow_shared_email: fields.contains_key("allow_shared_email"),
        })
    }

    pub fn tags(&self) -> Vec<String> {
        self.tags
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The rows kept (not blank), each with its row number.
    pub fn kept_emails(&self) -> Vec<(usize, pb::Email)> {
        self.emails
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.address.trim().is_empty())
            .map(|(index, row)| {
                (
                    index,
                    pb::Email {
                        address: row.address.clone(),
                        label: row.label.clone(),
                        primary: index == self.email_primary,
                    },
                )
            })
            .collect()
    }

    pub fn kept_phones(&self) -> Vec<(usize, pb::Phone)> {
        self.phones
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.number.trim().is_empty())
            .map(|(index, row)| {
                (
                    index,
                    pb::Phone {
                        number: row.number.clone(),
                        label: row.label.clone(),
                        primary: index == self.phone_primary,
                        country: row.country.trim().to_uppercase(),
                    },
                )
            })
            .collect()
    }

    pub fn kept_addresses(&self) -> Vec<(usize, pb::PostalAddress)> {
        self.addresses
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.is_blank())
            .map(|(index, row)| {
                (
                    index,
                    pb::PostalAddress {
                        label: row.label.clone(),
                        street: row.street.clone(),
                        postal_code: row.postal_code.clone(),
                        city: row.city.clone(),
                        region: row.region.clone(),
                        country: row.country.trim().to_uppercase(),
                    },
                )
            })
            .collect()
    }

    /// The lists as the update replaces them: the rows kept.
    pub fn lists(&self) -> (pb::EmailList, pb::PhoneList, pb::AddressList) {
        (
            pb::EmailList {
                items: self.kept_emails().into_iter().map(|(_, e)| e).collect(),
            },
            pb::PhoneList {
                items: self.kept_phones().into_iter().map(|(_, p)| p).collect(),
            },
            pb::AddressList {
                items: self.kept_addresses().into_iter().map(|(_, a)| a).collect(),
            },
        )
    }

    pub fn person_update(&self, id: &str) -> pb::UpdatePersonRequest {
        let (emails, phones, addresses) = self.lists();
        pb::UpdatePersonRequest {
            id: id.to_owned(),
            expected_version: Some(self.version),
            title: Some(self.title.clone()),
            given_name: Some(self.given_name.clone()),
            family_name: Some(self.family_name.clone()),
            job_title: Some(self.job_title.clone()),
            emails: Some(emails),
            phones: Some(phones),
            addresses: Some(addresses),
            website: Some(self.website.clone()),
            notes: Some(self.notes.clone()),
            tags: Some(pb::TagList { items: self.tags() }),
            category_id: Some(self.category.clone()),
            owner: None,
            external_refs: None,
            allow_shared_email: self.allow_shared_email,
        }
    }

    pub fn organisation_update(&self, id: &str) -> pb::UpdateOrganisationRequest {
        let (emails, phones, addresses) = self.lists();
        pb::UpdateOrganisationRequest {
            id: id.to_owned(),
            expected_version: Some(self.version),
            name: Some(self.name.clone()),
            managed: Some(self.managed),
            emails: Some(emails),
            phones: Some(phones),
            addresses: Some(addresses),
            website: Some(self.website.clone()),
            notes: Some(self.notes.clone()),
            tags: Some(pb::TagList { items: self.tags() }),
            category_id: Some(self.category.clone()),
            owner: None,
            external_refs: None,
        }
    }

    /// Marks the row a refusal names (`emails[1].address`: the second
    /// email kept, which is not the second row when rows were emptied).
    pub fn mark_invalid(&mut self, field: &str) {
        let Some((list, rest)) = field.split_once('[') else {
            return;
        };
        let Some(position) = rest
            .split_once(']')
            .and_then(|(number, _)| number.parse::<usize>().ok())
        else {
            return;
        };
        match list {
            "emails" => {
                if let Some((row, _)) = self.kept_emails().get(position) {
                    self.emails[*row].invalid = true;
                }
            }
            "phones" => {
                if let Some((row, _)) = self.kept_phones().get(position) {
                    self.phones[*row].invalid = true;
                }
            }
            "addresses" => {
                if let Some((row, _)) = self.kept_addresses().get(position) {
                    self.addresses[*row].invalid = true;
                }
            }
            _ => {}
        }
    }
}

/// The rows of one list in a posted form, numbered from 0 without gaps
/// (a missing row number is a blank row).
fn rows<T>(
    fields: &HashMap<String, String>,
    list: &str,
    row: impl Fn(&dyn Fn(&str) -> String) -> T,
) -> Result<Vec<T>, GatewayError> {
    let prefix = format!("{list}-");
    let mut count = 0;
    for key in fields.keys() {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let number = rest
            .split_once('-')
            .and_then(|(number, _)| number.parse::<usize>().ok())
            .ok_or_else(|| {
                GatewayError::invalid(list, format!("{key:?} is not a field of this form"))
            })?;
        if number >= MAX_ROWS {
            return Err(GatewayError::invalid(
                list,
                format!("at most {MAX_ROWS} rows of {list} can be sent"),
            ));
        }
        count = count.max(number + 1);
    }
    Ok((0..count)
        .map(|number| {
            let cell = |name: &str| {
                fields
                    .get(&format!("{list}-{number}-{name}"))
                    .cloned()
                    .unwrap_or_default()
            };
            row(&cell)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn rows_are_read_by_number_and_blank_rows_are_dropped() {
        let form = EditForm::parse(
            false,
            &posted(&[
                ("version", "4"),
                ("emails-0-address", "a@example.com"),
                ("emails-0-label", "work"),
                ("emails-1-address", " "),
                ("emails-2-address", "c@example.com"),
                ("email_primary", "2"),
                ("phones-0-number", "+33 1 23 45 67 89"),
                ("phones-0-country", "fr"),
            ]),
        )
        .expect("parsed");
        assert_eq!(form.version, 4);
        assert_eq!(form.emails.len(), 3);
        let kept = form.kept_emails();
        assert_eq!(
            kept.iter().map(|(row, _)| *row).collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert!(!kept[0].1.primary && kept[1].1.primary, "primary by row");
        assert_eq!(kept[0].1.label, "work");
        assert_eq!(form.kept_phones()[0].1.country, "FR");
        assert!(form.kept_addresses().is_empty());
    }

    #[test]
    fn a_refused_item_marks_its_row_not_its_position() {
        let mut form = EditForm::parse(
            true,
            &posted(&[
                ("version", "1"),
                ("emails-0-address", ""),
                ("emails-1-address", "ok@example.com"),
                ("emails-2-address", "not an email"),
            ]),
        )
        .expect("parsed");
        form.mark_invalid("emails[1].address");
        assert_eq!(
            form.emails
                .iter()
                .map(|row| row.invalid)
                .collect::<Vec<_>>(),
            vec![false, false, true]
        );
        form.mark_invalid("emails[7].address");
        form.mark_invalid("website");
        assert_eq!(form.emails.iter().filter(|row| row.invalid).count(), 1);
    }

    #[test]
    fn forms_not_sent_by_this_page_are_refused() {
        let forged: [&[(&str, &str)]; 4] = [
            &[("name", "A")],
            &[("version", "1"), ("emails-5000-address", "a@b.c")],
            &[("version", "1"), ("emails-x-address", "a@b.c")],
            &[("version", "1"), ("email_primary", "first")],
        ];
        for fields in forged {
            let parsed = EditForm::parse(false, &posted(fields));
            assert!(
                matches!(parsed, Err(GatewayError::InvalidArgument { .. })),
                "{fields:?}: {parsed:?}"
            );
        }
    }

    #[test]
    fn the_form_starts_with_every_item_and_one_blank_row_per_list() {
        let form = EditForm::of_person(pb::Person {
            version: 3,
            given_name: "Ada".into(),
            emails: vec![
                pb::Email {
                    address: "a@example.com".into(),
                    label: "home".into(),
                    primary: false,
                },
                pb::Email {
                    address: "b@example.com".into(),
                    label: "work".into(),
                    primary: true,
                },
            ],
            tags: vec!["vip".into(), "fr".into()],
            ..Default::default()
        });
        assert_eq!(form.emails.len(), 3);
        assert_eq!(form.email_primary, 1);
        assert_eq!(form.phones, vec![PhoneRow::default()]);
        assert_eq!(form.addresses, vec![AddressRow::default()]);
        assert_eq!(form.tags, "vip, fr");
        let update = form.person_update("p");
        let emails = update.emails.expect("emails").items;
        assert_eq!(emails.len(), 2);
        assert!(emails[1].primary && !emails[0].primary);
        assert_eq!(update.expected_version, Some(3));
        assert_eq!(
            update.external_refs, None,
            "not in the form, left as stored"
        );
        assert_eq!(update.owner, None);
    }
}
