//! Listing, history, categories, erasure and rebuild, through gRPC.

use crate::support::{
    expect_code, on_both_backends, organisation, person, signed, Backend, Server,
};
use liaison_proto::contacts::v1 as pb;
use tonic::Code;

async fn lists_filter_sort_and_paginate_with_a_total(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let alumni = client
        .create_category(pb::CreateCategoryRequest {
            name: "Alumni".into(),
            description: String::new(),
        })
        .await
        .expect("category")
        .into_inner();
    for index in 0..25 {
        let mut request = person(
            &format!("Person{index:02}"),
            &format!("Family{:02}", 24 - index),
            &format!("p{index}@example.org"),
        );
        if index % 2 == 0 {
            request.category_id = alumni.id.clone();
            request.tags = vec!["Newsletter".into()];
        }
        client.create_person(request).await.expect("create");
    }
    let mut ours = organisation("Our Company");
    ours.managed = true;
    client.create_organisation(ours).await.expect("ours");
    client
        .create_organisation(organisation("Competitor"))
        .await
        .expect("competitor");

    // Pages of 10 by name, then the next pages by cursor, total counted once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_persons(pb::ListContactsRequest {
                page_size: 10,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total_count, 25);
        seen.extend(page.persons.iter().map(|p| p.family_name.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "sorted by family name");
    assert_eq!(seen.len(), 25, "every person once");

    let filtered = client
        .list_persons(pb::ListContactsRequest {
            category_id: alumni.id.clone(),
            tags: vec!["newsletter".into()],
            ..Default::default()
        })
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(filtered.total_count, 13);

    let searched = client
        .list_persons(pb::ListContactsRequest {
            query: "P7@EXAMPLE".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(searched.persons.len(), 1);
    assert_eq!(searched.persons[0].given_name, "Person07");

    let newest = client
        .list_persons(pb::ListContactsRequest {
            sort: pb::ContactSort::CreatedAt as i32,
            descending: true,
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("newest")
        .into_inner();
    assert_eq!(newest.persons[0].given_name, "Person24");

    let managed = client
        .list_organisations(pb::ListContactsRequest {
            managed: Some(true),
            ..Default::default()
        })
        .await
        .expect("managed")
        .into_inner();
    assert_eq!(managed.organisations.len(), 1);
    assert_eq!(managed.organisations[0].name, "Our Company");

    let wildcard = client
        .list_persons(pb::ListContactsRequest {
            query: "%".into(),
            ..Default::default()
        })
        .await
        .expect("wildcard is literal")
        .into_inner();
    assert_eq!(wildcard.total_count, 0);
}

async fn categories_have_unique_names_and_are_not_deleted_while_used(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let create = |name: &str| pb::CreateCategoryRequest {
        name: name.into(),
        description: String::new(),
    };
    let lecturers = client
        .create_category(create("Lecturers"))
        .await
        .expect("create")
        .into_inner();
    let status = expect_code(
        client.create_category(create("lecturers")).await,
        Code::AlreadyExists,
    );
    assert!(status.message().contains(&lecturers.id));
    expect_code(
        client.create_category(create("  ")).await,
        Code::InvalidArgument,
    );

    let mut request = person("Ada", "Lovelace", "");
    request.category_id = lecturers.id.clone();
    let ada = client
        .create_person(request)
        .await
        .expect("person")
        .into_inner();
    let status = expect_code(
        client
            .delete_category(pb::DeleteCategoryRequest {
                id: lecturers.id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("used by 1 contacts"),
        "{}",
        status.message()
    );

    let renamed = client
        .rename_category(pb::RenameCategoryRequest {
            id: lecturers.id.clone(),
            name: "Lecturer".into(),
            expected_version: Some(1),
        })
        .await
        .expect("rename")
        .into_inner();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Lecturer", 2));
    expect_code(
        client
            .rename_category(pb::RenameCategoryRequest {
                id: lecturers.id.clone(),
                name: "x".into(),
                expected_version: Some(1),
            })
            .await,
        Code::Aborted,
    );

    client
        .update_person(pb::UpdatePersonRequest {
            id: ada.id,
            category_id: Some(String::new()),
            ..Default::default()
        })
        .await
        .expect("uncategorise");
    client
        .delete_category(pb::DeleteCategoryRequest {
            id: lecturers.id.clone(),
        })
        .await
        .expect("delete");
    let listed = client
        .list_categories(pb::ListCategoriesRequest {})
        .await
        .expect("list")
        .into_inner();
    assert!(listed.categories.is_empty());
    expect_code(
        client
            .delete_category(pb::DeleteCategoryRequest { id: lecturers.id })
            .await,
        Code::NotFound,
    );
}

async fn history_says_who_changed_what_and_when(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let create = signed(
        person("Marcel", "Dupont", "marcel@untel.fr"),
        "user:alice",
        "staff",
    );
    let created = client
        .create_person(create)
        .await
        .expect("create")
        .into_inner();
    let update = signed(
        pb::UpdatePersonRequest {
            id: created.id.clone(),
            family_name: Some("Dupond".into()),
            ..Default::default()
        },
        "user:bob",
        "staff",
    );
    client.update_person(update).await.expect("update");

    let history = client
        .get_history(pb::GetHistoryRequest {
            id: created.id.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner();
    let latest = &history.entries[0];
    assert_eq!(
        (
            latest.version,
            latest.event_type.as_str(),
            latest.actor.as_str()
        ),
        (2, "person.updated", "user:bob")
    );
    assert_eq!(latest.changes.len(), 1);
    assert_eq!(
        (
            latest.changes[0].field.as_str(),
            latest.changes[0].old_value.as_str(),
            latest.changes[0].new_value.as_str()
        ),
        ("family_name", "Dupont", "Dupond")
    );
    let older = client
        .get_history(pb::GetHistoryRequest {
            id: created.id.clone(),
            page_size: 10,
            page_token: history.next_page_token,
        })
        .await
        .expect("older")
        .into_inner();
    assert_eq!(older.entries.len(), 1);
    assert_eq!(older.entries[0].actor, "user:alice");
    assert!(older.entries[0]
        .changes
        .iter()
        .any(|c| c.field == "emails" && c.new_value.contains("marcel@untel.fr")));
    assert!(older.next_page_token.is_empty());
}

async fn erasure_leaves_no_personal_data_in_read_models_or_the_log(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let mut request = person("Zebulon", "Quixotte", "zebulon.quixotte@example.org");
    request.phones = vec![pb::Phone {
        number: "+33 6 98 76 54 32".into(),
        ..Default::default()
    }];
    let created = client
        .create_person(request)
        .await
        .expect("create")
        .into_inner();
    client
        .update_person(pb::UpdatePersonRequest {
            id: created.id.clone(),
            notes: Some("met Zebulon at the fair".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    let keeper = client
        .create_person(person("Kept", "Person", "kept@example.org"))
        .await
        .expect("keeper")
        .into_inner();

    client
        .erase_person(pb::ErasePersonRequest {
            id: created.id.clone(),
            reason: "request 2026-114".into(),
        })
        .await
        .expect("erase");

    let erased = client
        .get_person(pb::GetContactRequest {
            id: created.id.clone(),
        })
        .await
        .expect("tombstone")
        .into_inner();
    assert!(erased.erased);
    assert!(
        erased.given_name.is_empty()
            && erased.family_name.is_empty()
            && erased.emails.is_empty()
            && erased.notes.is_empty()
    );
    let found = client
        .find_by_email(pb::FindByEmailRequest {
            email: "zebulon.quixotte@example.org".into(),
        })
        .await
        .expect("find")
        .into_inner();
    assert!(found.contacts.is_empty());
    let history = client
        .get_history(pb::GetHistoryRequest {
            id: created.id.clone(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.entries[0].detail, "erased: request 2026-114");
    assert!(history.entries[1..]
        .iter()
        .all(|e| e.detail == "personal data erased" && e.changes.is_empty()));
    expect_code(
        client
            .erase_person(pb::ErasePersonRequest {
                id: created.id.clone(),
                reason: String::new(),
            })
            .await,
        Code::FailedPrecondition,
    );
    expect_code(
        client
            .update_person(pb::UpdatePersonRequest {
                id: created.id.clone(),
                notes: Some("again".into()),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );

    // The log itself: the events are there, their payloads unreadable.
    let store = server.service.store();
    let events = store
        .read_stream(&format!("contact-{}", created.id), 0, 100)
        .await
        .expect("stream");
    assert_eq!(events.len(), 3);
    assert!(events[..2]
        .iter()
        .all(|e| e.shredded && e.payload.is_empty()));
    let kept = store
        .read_stream(&format!("contact-{}", keeper.id), 0, 100)
        .await
        .expect("kept stream");
    assert!(!kept[0].shredded, "other persons stay readable");

    // And on disk, while the service still runs: no trace of the name, email
    // or phone in the database or its write-ahead log. (PostgreSQL's files
    // belong to its server; there the read models and the log are checked.)
    if backend != Backend::Sqlite {
        return;
    }
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", server.db_path().display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for needle in ["Zebulon", "Quixotte", "zebulon.quixotte", "+33698765432"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is still readable in {path}"
            );
        }
    }
}

async fn rebuilt_read_models_equal_the_live_ones(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let category = client
        .create_category(pb::CreateCategoryRequest {
            name: "Alumni".into(),
            description: "former students".into(),
        })
        .await
        .expect("category")
        .into_inner();
    let mut ids = Vec::new();
    for index in 0..12 {
        let mut request = person(
            &format!("Given{index}"),
            "Family",
            &format!("p{index}@example.org"),
        );
        request.category_id = category.id.clone();
        request.external_refs = vec![pb::ExternalRef {
            source: "feed".into(),
            external_id: index.to_string(),
        }];
        ids.push(
            client
                .create_person(request)
                .await
                .expect("create")
                .into_inner()
                .id,
        );
    }
    let version = |id: &str| pb::ContactVersionRequest {
        id: id.to_owned(),
        expected_version: None,
    };
    client
        .update_person(pb::UpdatePersonRequest {
            id: ids[0].clone(),
            job_title: Some("CEO".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    client.trash_contact(version(&ids[1])).await.expect("trash");
    client.trash_contact(version(&ids[2])).await.expect("trash");
    client.purge_contact(version(&ids[2])).await.expect("purge");
    client
        .merge_contacts(pb::MergeContactsRequest {
            survivor_id: ids[3].clone(),
            merged_id: ids[4].clone(),
        })
        .await
        .expect("merge");
    client
        .erase_person(pb::ErasePersonRequest {
            id: ids[5].clone(),
            reason: "asked".into(),
        })
        .await
        .expect("erase");
    client.trash_contact(version(&ids[6])).await.expect("trash");
    client.purge_contact(version(&ids[6])).await.expect("purge");
    client
        .erase_person(pb::ErasePersonRequest {
            id: ids[6].clone(),
            reason: "asked after purge".into(),
        })
        .await
        .expect("erase purged");
    client
        .create_organisation(organisation("UnTel"))
        .await
        .expect("org");

    let store = server.service.store();
    let before = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    // Unfiltered totals come from the counts the triggers keep; a filter
    // that matches every row counts the rows themselves.
    let expected = [(7, 1), (1, 0), (8, 1)];
    assert_eq!(totals(&mut client, false).await, expected);
    assert_eq!(totals(&mut client, true).await, expected);

    let replayed = store.rebuild_projections().await.expect("rebuild");
    assert_eq!(replayed, 24, "every event of the log is replayed");
    let after = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    assert_eq!(before, after);
    assert_eq!(totals(&mut client, false).await, expected);
}

/// The total comes with the page's rows; a page left empty (its rows
/// trashed since the cursor was given) must still say how many match.
async fn an_empty_page_still_gives_the_total(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    // Unfiltered (kept counts), then filtered by a search (rows counted).
    for (given, query) in [("Ann", ""), ("Zed", "zed")] {
        let mut ids = Vec::new();
        for family in ["Alpha", "Bravo", "Charlie"] {
            let created = client
                .create_person(person(given, family, ""))
                .await
                .expect("create")
                .into_inner();
            ids.push(created.id);
        }
        let request = |page_token: String| pb::ListContactsRequest {
            query: query.into(),
            page_size: 2,
            page_token,
            ..Default::default()
        };
        let first = client
            .list_persons(request(String::new()))
            .await
            .expect("first page")
            .into_inner();
        assert_eq!((first.persons.len(), first.total_count), (2, 3));
        // The last one by name goes while the reader holds the cursor.
        client
            .trash_contact(pb::ContactVersionRequest {
                id: ids[2].clone(),
                expected_version: None,
            })
            .await
            .expect("trash the last");
        let second = client
            .list_persons(request(first.next_page_token))
            .await
            .expect("second page")
            .into_inner();
        assert!(second.persons.is_empty(), "query {query:?}");
        assert_eq!(
            second.total_count, 2,
            "query {query:?}: counted without rows"
        );
        assert!(second.next_page_token.is_empty());
    }
}

/// (persons, organisations) totals for live, trashed, and both; counted row
/// by row when `scan` (a filter every contact passes).
async fn totals(
    client: &mut pb::contact_service_client::ContactServiceClient<tonic::transport::Channel>,
    scan: bool,
) -> Vec<(u64, u64)> {
    let mut totals = Vec::new();
    for trash in [
        pb::TrashFilter::Unspecified,
        pb::TrashFilter::OnlyTrash,
        pb::TrashFilter::All,
    ] {
        let request = pb::ListContactsRequest {
            trash: trash as i32,
            updated_since: scan.then_some(prost_types::Timestamp::default()),
            page_size: 1,
            ..Default::default()
        };
        let persons = client
            .list_persons(request.clone())
            .await
            .expect("persons")
            .into_inner()
            .total_count;
        let organisations = client
            .list_organisations(request)
            .await
            .expect("organisations")
            .into_inner()
            .total_count;
        totals.push((persons, organisations));
    }
    totals
}

async fn concurrent_creates_all_commit(backend: Backend) {
    let server = Server::start(backend).await;
    let mut tasks = Vec::new();
    for index in 0..64 {
        let mut client = server.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .create_person(person("Same", "Time", &format!("c{index}@example.org")))
                .await
                .map(|r| r.into_inner().id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task").expect("create"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    let mut client = server.client.clone();
    let listed = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_count, 64);
    let store = server.service.store();
    assert_eq!(store.head_position().await.expect("head"), 64);
}

async fn updated_since_lists_only_what_changed_after_the_given_time(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let first = client
        .create_person(person("First", "Early", ""))
        .await
        .expect("first")
        .into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = first.updated_at.map(|t| prost_types::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos + 1_000,
    });
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    client
        .create_person(person("Second", "Later", ""))
        .await
        .expect("second");

    let changed = |since: Option<prost_types::Timestamp>| pb::ListContactsRequest {
        updated_since: since,
        ..Default::default()
    };
    let listed = client
        .list_persons(changed(since))
        .await
        .expect("list")
        .into_inner();
    let names: Vec<_> = listed
        .persons
        .iter()
        .map(|p| p.given_name.as_str())
        .collect();
    assert_eq!(names, vec!["Second"]);

    client
        .update_person(pb::UpdatePersonRequest {
            id: first.id,
            notes: Some("called back".into()),
            ..Default::default()
        })
        .await
        .expect("update");
    let listed = client
        .list_persons(changed(since))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_count, 2, "an update counts as a change");
}

on_both_backends!(
    lists_filter_sort_and_paginate_with_a_total,
    categories_have_unique_names_and_are_not_deleted_while_used,
    history_says_who_changed_what_and_when,
    erasure_leaves_no_personal_data_in_read_models_or_the_log,
    rebuilt_read_models_equal_the_live_ones,
    concurrent_creates_all_commit,
    updated_since_lists_only_what_changed_after_the_given_time,
    an_empty_page_still_gives_the_total,
);
