//! The web UI's longer forms over HTTP: editing a contact, and merging a
//! duplicate after a side-by-side review.

use liaison_tests::http::HttpClient;

use crate::common::web::*;

#[tokio::test]
async fn the_edit_form_changes_what_was_changed_and_keeps_everything_else() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    client.set_csrf(Some(&token));
    let created = client
        .post(
            "/api/persons",
            serde_json::json!({
                "given_name": "Ada",
                "family_name": "Lovelace",
                "emails": [
                    {"address": "ada@home.example", "label": "home", "primary": false},
                    {"address": "ada@work.example", "label": "work", "primary": true}
                ],
                "phones": [{"number": "+442071234567", "label": "office", "primary": true, "country": "GB"}],
                "addresses": [{"label": "office", "street": "1 Main St", "postal_code": "N1",
                               "city": "London", "region": "", "country": "GB"}],
                "tags": ["vip"],
                "notes": "line one\nline two & <more>",
                "external_refs": [{"source": "crm-old", "external_id": "42"}]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id").to_owned();
    let before = client.get(&format!("/api/persons/{id}")).await.json;
    let edit_path = format!("/contacts/{id}/edit");

    let page = client.get(&edit_path).await;
    assert_eq!(page.status, 200);
    assert!(page
        .text
        .contains("<label for=\"emails-1-label\">Label</label>"));
    let fields = form_fields(&page.text, &edit_path);
    assert!(fields.contains(&("email_primary".into(), "1".into())));
    assert!(
        fields.contains(&("emails-2-address".into(), String::new())),
        "a blank row to add one"
    );

    // Sent back unchanged: nothing recorded, nothing lost (labels, primary
    // marks, the address, the multi-line notes, the external reference).
    let unchanged = post_fields(&client, &edit_path, &fields).await;
    assert_eq!(unchanged.status, 303, "{}", unchanged.text);
    assert_eq!(location(&unchanged), format!("/contacts/{id}"));
    assert_eq!(client.get(&format!("/api/persons/{id}")).await.json, before);

    // Without the page's token: refused, nothing changes.
    let forged = post_fields(
        &client,
        &edit_path,
        &with(&fields, &[("csrf", "forged"), ("job_title", "Countess")]),
    )
    .await;
    assert_eq!(forged.status, 403);

    // Changes: the first email removed, one added and made primary, the
    // job title, a national phone number read with its country.
    let changed = post_fields(
        &client,
        &edit_path,
        &with(
            &fields,
            &[
                ("job_title", "Countess"),
                ("emails-0-address", ""),
                ("emails-2-address", "ada@new.example"),
                ("emails-2-label", "new"),
                ("email_primary", "2"),
                ("phones-1-number", "01 42 68 53 00"),
                ("phones-1-country", "fr"),
                ("tags", "vip, mathematician"),
            ],
        ),
    )
    .await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    let after = client.get(&format!("/api/persons/{id}")).await.json;
    assert_eq!(after["job_title"], "Countess");
    assert_eq!(
        after["emails"],
        serde_json::json!([
            {"address": "ada@work.example", "label": "work", "primary": false},
            {"address": "ada@new.example", "label": "new", "primary": true}
        ])
    );
    assert_eq!(after["phones"][1]["number"], "+33142685300");
    assert_eq!(after["phones"][0], before["phones"][0]);
    assert_eq!(after["addresses"], before["addresses"]);
    assert_eq!(after["external_refs"], before["external_refs"]);
    assert_eq!(after["notes"], before["notes"]);
    assert_eq!(after["tags"], serde_json::json!(["vip", "mathematician"]));

    // The form read before that change is stale now: refused, the typed
    // values shown back, nothing stored.
    let stale = post_fields(
        &client,
        &edit_path,
        &with(&fields, &[("job_title", "Stale <b>title</b>")]),
    )
    .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert!(stale.text.contains("role=\"alert\""));
    assert!(!stale.text.contains("Stale <b>"));
    assert!(
        html_unescape(&stale.text).contains("Stale <b>title</b>"),
        "typed values shown back"
    );
    assert_eq!(client.get(&format!("/api/persons/{id}")).await.json, after);

    // A bad email in the third row, with the first row emptied: the third
    // row is the one marked, nothing stored.
    let page = client.get(&edit_path).await;
    let fields = form_fields(&page.text, &edit_path);
    let refused = post_fields(
        &client,
        &edit_path,
        &with(
            &fields,
            &[
                ("emails-0-address", ""),
                ("emails-2-address", "not an email"),
                ("job_title", "Should not be stored"),
            ],
        ),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains(
        "name=\"emails-2-address\" value=\"not an email\" type=\"email\" maxlength=\"254\" aria-invalid=\"true\""
    ));
    assert!(!refused.text.contains("name=\"emails-1-address\" value=\"ada@new.example\" type=\"email\" maxlength=\"254\" aria-invalid"));
    assert_eq!(client.get(&format!("/api/persons/{id}")).await.json, after);

    // Forms this page never sends: no version, absurd row numbers.
    let no_version: Vec<_> = fields
        .iter()
        .filter(|(n, _)| n != "version")
        .cloned()
        .collect();
    let refused = post_fields(&client, &edit_path, &no_version).await;
    assert_eq!(refused.status, 400);
    let refused = post_fields(
        &client,
        &edit_path,
        &with(&fields, &[("emails-99999-address", "x@example.com")]),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("at most 60 rows"));
    assert_eq!(client.get(&format!("/api/persons/{id}")).await.json, after);
    assert_eq!(client.get("/contacts/not-a-contact/edit").await.status, 404);
}

#[tokio::test]
async fn an_organisation_is_renamed_and_unmarked_from_its_edit_form() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let created = client
        .post_form(
            "/organisations",
            &[("name", "Acme"), ("managed", "on"), ("csrf", &token)],
        )
        .await;
    let entity = location(&created);
    let edit_path = format!("{entity}/edit");
    let page = client.get(&entity).await;
    assert!(
        page.text.contains(&format!("href=\"{edit_path}\"")),
        "an Edit link"
    );
    let fields = form_fields(&client.get(&edit_path).await.text, &edit_path);
    assert!(fields.contains(&("managed".into(), "on".into())));
    let empty_name = post_fields(&client, &edit_path, &with(&fields, &[("name", "  ")])).await;
    assert_eq!(empty_name.status, 400, "{}", empty_name.text);
    assert!(empty_name
        .text
        .contains("name=\"name\" value=\"  \" required maxlength=\"200\" aria-invalid=\"true\""));
    let long_name = "x".repeat(201);
    let too_long = post_fields(&client, &edit_path, &with(&fields, &[("name", &long_name)])).await;
    assert_eq!(too_long.status, 400, "{}", too_long.text);
    // The box unticked is absent from the form: no longer ours.
    let unticked: Vec<_> = with(&fields, &[("name", "Acme <Holdings>")])
        .into_iter()
        .filter(|(name, _)| name != "managed")
        .collect();
    let saved = post_fields(&client, &edit_path, &unticked).await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    let page = client.get(&entity).await;
    assert!(!page.text.contains("Acme <Holdings>"));
    assert!(html_unescape(&page.text).contains("<h1>Acme <Holdings>"));
    assert!(page
        .text
        .contains("<dt>Ours</dt>\n  <dd><span class=\"item\">no</span></dd>"));
}

#[tokio::test]
async fn a_duplicate_is_merged_from_the_contacts_page_after_a_side_by_side_review() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    client.set_csrf(Some(&token));
    let create = |body: serde_json::Value, path: &'static str| {
        let client = &client;
        async move {
            let reply = client.post(path, body).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            reply.json["id"].as_str().expect("id").to_owned()
        }
    };
    let ada = create(
        serde_json::json!({"given_name": "Ada", "family_name": "Lovelace",
            "emails": [{"address": "ada@example.com", "label": "", "primary": true}], "tags": ["vip"]}),
        "/api/persons",
    )
    .await;
    let duplicate = create(
        serde_json::json!({"given_name": "A.", "family_name": "Lovelace", "job_title": "Countess",
            "emails": [{"address": "ADA@example.com", "label": "", "primary": true},
                       {"address": "countess@example.com", "label": "old", "primary": false}],
            "tags": ["VIP", "maths"], "allow_shared_email": true}),
        "/api/persons",
    )
    .await;
    let society = create(
        serde_json::json!({"name": "Royal <Society>"}),
        "/api/organisations",
    )
    .await;
    let related = client
        .post(
            "/api/relations",
            serde_json::json!({"subject": {"kind": "contacts.person", "id": duplicate},
                "predicate": "employed_by", "object": {"kind": "contacts.organisation", "id": society}}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);
    let merge_path = format!("/contacts/{ada}/merge");
    assert!(client
        .get(&format!("/contacts/{ada}"))
        .await
        .text
        .contains(&format!("href=\"{merge_path}\"")));

    let chooser = client.get(&merge_path).await;
    assert_eq!(chooser.status, 200);
    assert!(
        chooser.text.contains("data-kinds=\"contacts.person\""),
        "persons only"
    );
    let nobody = client
        .get(&format!("{merge_path}?duplicate_name=Nobody"))
        .await;
    assert_eq!(nobody.status, 400);
    assert!(html_unescape(&nobody.text).contains("No contact is named \"Nobody\""));
    let itself = client
        .get(&format!("{merge_path}?duplicate=contacts.person:{ada}"))
        .await;
    assert_eq!(itself.status, 400);
    assert!(itself.text.contains("cannot be merged into itself"));
    let organisation = client
        .get(&format!(
            "{merge_path}?duplicate=contacts.organisation:{society}"
        ))
        .await;
    assert_eq!(
        organisation.status, 400,
        "an organisation is no duplicate of a person"
    );

    let compared = client
        .get(&format!("{merge_path}?duplicate_name=a.%20lovelace"))
        .await;
    assert_eq!(compared.status, 200, "{}", compared.text);
    let fields = form_fields(&compared.text, &merge_path);
    assert!(fields.contains(&("duplicate".into(), duplicate.clone())));
    assert!(
        fields.contains(&("pick-job_title".into(), "duplicate".into())),
        "only the duplicate has a job title: its value is preselected"
    );
    assert!(fields.contains(&("pick-given_name".into(), "survivor".into())));
    assert!(compared.text.contains("countess@example.com (old)"));
    assert!(!compared.text.contains("Royal <Society>"));

    // Without the page's token: refused, nothing merged.
    let forged = post_fields(&client, &merge_path, &with(&fields, &[("csrf", "x")])).await;
    assert_eq!(forged.status, 403);
    // The duplicate changed after the page was shown: refused, reviewed again.
    let changed = client
        .patch(
            &format!("/api/persons/{duplicate}"),
            serde_json::json!({"notes": "changed meanwhile"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let stale = post_fields(&client, &merge_path, &fields).await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert!(stale.text.contains("changed since this page was shown"));
    assert!(
        stale.text.contains("changed meanwhile"),
        "the comparison shown again, current"
    );
    let still = client.get(&format!("/api/persons/{duplicate}")).await.json;
    assert!(still["merged_into"].is_null());

    let fields = form_fields(&stale.text, &merge_path);
    let merged = post_fields(
        &client,
        &merge_path,
        &with(&fields, &[("pick-given_name", "duplicate")]),
    )
    .await;
    assert_eq!(merged.status, 303, "{}", merged.text);
    assert_eq!(location(&merged), format!("/contacts/{ada}"));
    let survivor = client.get(&format!("/api/persons/{ada}")).await.json;
    assert_eq!(survivor["given_name"], "A.", "the value picked");
    assert_eq!(survivor["job_title"], "Countess", "the value preselected");
    assert_eq!(
        survivor["notes"], "",
        "the survivor's value where it was kept"
    );
    let emails: Vec<&str> = survivor["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .map(|email| email["address"].as_str().expect("address"))
        .collect();
    assert_eq!(emails, ["ada@example.com", "countess@example.com"]);
    assert_eq!(survivor["tags"], serde_json::json!(["vip", "maths"]));
    let gone = client.get(&format!("/api/persons/{duplicate}")).await;
    assert_eq!(gone.json["merged_into"], ada.as_str(), "{}", gone.text);
    // The duplicate's relation moves to the survivor (the relations
    // service applies the merge from the event).
    let mut moved = false;
    for _ in 0..100 {
        let page = client.get(&format!("/contacts/{ada}")).await;
        if page.text.contains(&format!("href=\"/contacts/{society}\"")) {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(moved, "the relation to the society is now the survivor's");
    // The duplicate's page says where it went, and offers nothing to do.
    let page = client.get(&format!("/contacts/{duplicate}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains(&format!(
            "Merged into <a href=\"/contacts/{ada}\">A. Lovelace</a>"
        )),
        "{}",
        page.text
    );
    for action in [
        "Move to trash",
        "Duplicate",
        "Add a relation",
        "/edit\"",
        "Merge…",
    ] {
        assert!(
            !page.text.contains(action),
            "{action} offered on a merged contact"
        );
    }
    // The survivor's page shows every saved field, emails as links.
    let page = client.get(&format!("/contacts/{ada}")).await;
    assert!(page.text.contains(
        "<a href=\"mailto:countess@example.com\">countess@example.com</a> <span class=\"muted\">(old)</span>"
    ), "{}", page.text);
    assert!(page.text.contains("<dt>Created</dt>"));
}
