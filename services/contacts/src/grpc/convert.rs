//! The conversions between the gRPC messages and the application's types,
//! each destructuring its message whole.

use liaison_eventstore::{micros_to_timestamp, timestamp_to_micros};
use liaison_proto::contacts::v1 as pb;
use liaison_runtime::paging;

use crate::domain::category::Category;
use crate::domain::contact::{Contact, Kind, Lifecycle};
use crate::domain::fields::Field;
use crate::domain::parse_id;
use crate::storage::queries::{Cursor, ListFilter, SortBy, TrashFilter};
use crate::ContactsError;

pub(super) fn expect_kind(contact: &Contact, kind: Kind) -> Result<(), ContactsError> {
    if contact.kind == Some(kind) {
        return Ok(());
    }
    Err(ContactsError::NotFound {
        kind: kind.as_str(),
        id: contact.id.clone(),
    })
}

pub(super) fn set_opt(
    set: &mut Vec<Field>,
    field: Field,
    value: Option<String>,
    target: &mut String,
) {
    if let Some(value) = value {
        *target = value;
        set.push(field);
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn set_common(
    set: &mut Vec<Field>,
    values: &mut pb::ContactData,
    emails: Option<pb::EmailList>,
    phones: Option<pb::PhoneList>,
    addresses: Option<pb::AddressList>,
    website: Option<String>,
    notes: Option<String>,
    tags: Option<pb::TagList>,
    category_id: Option<String>,
    owner: Option<String>,
    external_refs: Option<pb::ExternalRefList>,
) {
    if let Some(pb::EmailList { items }) = emails {
        values.emails = items;
        set.push(Field::Emails);
    }
    if let Some(pb::PhoneList { items }) = phones {
        values.phones = items;
        set.push(Field::Phones);
    }
    if let Some(pb::AddressList { items }) = addresses {
        values.addresses = items;
        set.push(Field::Addresses);
    }
    set_opt(set, Field::Website, website, &mut values.website);
    set_opt(set, Field::Notes, notes, &mut values.notes);
    if let Some(pb::TagList { items }) = tags {
        values.tags = items;
        set.push(Field::Tags);
    }
    set_opt(set, Field::CategoryId, category_id, &mut values.category_id);
    set_opt(set, Field::Owner, owner, &mut values.owner);
    if let Some(pb::ExternalRefList { items }) = external_refs {
        values.external_refs = items;
        set.push(Field::ExternalRefs);
    }
}

pub(super) fn list_filter(
    kind: Kind,
    request: pb::ListContactsRequest,
) -> Result<ListFilter, ContactsError> {
    let pb::ListContactsRequest {
        category_id,
        tags,
        managed,
        query,
        updated_since,
        sort,
        descending,
        page_size,
        page_token,
        trash,
    } = request;
    let sort = match pb::ContactSort::try_from(sort) {
        Ok(pb::ContactSort::Unspecified | pb::ContactSort::Name) => SortBy::Name,
        Ok(pb::ContactSort::CreatedAt) => SortBy::CreatedAt,
        Ok(pb::ContactSort::UpdatedAt) => SortBy::UpdatedAt,
        Err(_) => {
            return Err(ContactsError::invalid(
                "sort",
                format!("{sort} is not a sort order"),
            ))
        }
    };
    let trash = match pb::TrashFilter::try_from(trash) {
        Ok(pb::TrashFilter::Unspecified) => TrashFilter::LiveOnly,
        Ok(pb::TrashFilter::OnlyTrash) => TrashFilter::TrashOnly,
        Ok(pb::TrashFilter::All) => TrashFilter::Both,
        Err(_) => {
            return Err(ContactsError::invalid(
                "trash",
                format!("{trash} is not a trash filter"),
            ))
        }
    };
    let query = crate::domain::validation::text("query", &query, 200)?;
    if tags.len() > crate::domain::validation::MAX_ITEMS {
        return Err(ContactsError::invalid(
            "tags",
            format!(
                "a filter names at most {} tags (a contact holds no more); it names {}",
                crate::domain::validation::MAX_ITEMS,
                tags.len()
            ),
        ));
    }
    let tags = tags
        .iter()
        .enumerate()
        .map(|(index, tag)| crate::domain::validation::text(&format!("tags[{index}]"), tag, 64))
        .filter(|tag| tag.as_ref().map_or(true, |tag| !tag.is_empty()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListFilter {
        kind: Some(kind),
        category_id: if category_id.trim().is_empty() {
            None
        } else {
            Some(parse_id("category_id", &category_id)?)
        },
        tags,
        managed,
        query: (!query.is_empty()).then_some(query),
        updated_since: updated_since.as_ref().map(timestamp_to_micros),
        sort,
        descending,
        page_size: paging::page_size(page_size)?,
        after: Cursor::decode(&page_token, sort)?,
        trash,
    })
}

pub(super) fn to_contact(contact: Contact) -> Result<pb::Contact, ContactsError> {
    let inner = match contact.kind {
        Some(Kind::Organisation) => pb::contact::Contact::Organisation(to_organisation(contact)?),
        _ => pb::contact::Contact::Person(to_person(contact)?),
    };
    Ok(pb::Contact {
        contact: Some(inner),
    })
}

pub(super) fn to_person(contact: Contact) -> Result<pb::Person, ContactsError> {
    let Contact {
        id,
        kind: _,
        version,
        data,
        lifecycle,
        created_at,
        updated_at,
    } = contact;
    let pb::ContactData {
        title,
        given_name,
        family_name,
        job_title,
        organisation_name: _,
        managed: _,
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
    Ok(pb::Person {
        id,
        version,
        title,
        given_name,
        family_name,
        job_title,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
        in_trash: lifecycle == Lifecycle::Trashed,
        merged_into: merged_into(&lifecycle),
        erased: lifecycle == Lifecycle::Erased,
        created_at: Some(micros_to_timestamp(created_at)),
        updated_at: Some(micros_to_timestamp(updated_at)),
    })
}

pub(super) fn to_organisation(contact: Contact) -> Result<pb::Organisation, ContactsError> {
    let Contact {
        id,
        kind: _,
        version,
        data,
        lifecycle,
        created_at,
        updated_at,
    } = contact;
    let pb::ContactData {
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
        ..
    } = data;
    Ok(pb::Organisation {
        id,
        version,
        name: organisation_name,
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
        in_trash: lifecycle == Lifecycle::Trashed,
        merged_into: merged_into(&lifecycle),
        created_at: Some(micros_to_timestamp(created_at)),
        updated_at: Some(micros_to_timestamp(updated_at)),
    })
}

fn merged_into(lifecycle: &Lifecycle) -> String {
    match lifecycle {
        Lifecycle::Merged { survivor_id } => survivor_id.clone(),
        _ => String::new(),
    }
}

pub(super) fn to_category(category: Category) -> pb::Category {
    let Category {
        id,
        version,
        name,
        description,
        exists: _,
        deleted: _,
    } = category;
    pb::Category {
        id,
        version,
        name,
        description,
    }
}
