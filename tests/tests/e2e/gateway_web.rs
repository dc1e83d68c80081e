//! The web UI over HTTP, as a browser without script uses it: the login
//! form and its token, redirects, CSRF on every form, escaping of what
//! people typed, lists, creation forms, relations and the trash from the
//! entity page.

use liaison_tests::http::HttpClient;

use crate::common::web::*;

#[tokio::test]
async fn pages_send_strangers_to_the_login_form_and_back() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let reply = client.get("/organisations?q=a").await;
    assert_eq!(reply.status, 303);
    assert_eq!(location(&reply), "/login?next=%2Forganisations%3Fq%3Da");

    let page = client.get("/login").await;
    assert!(
        page.text.contains("<label for=\"email\">Email</label>"),
        "labelled fields"
    );
    let token = HttpClient::hidden_field(&page.text, "csrf").expect("token");
    // Without the matching cookie (another site posting the form): refused.
    let stranger = HttpClient::new(&liaison.http_addr);
    let forged = stranger
        .post_form(
            "/login",
            &[("email", ADMIN), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(stranger.cookie("liaison_session").is_none());
    let wrong = client
        .post_form(
            "/login",
            &[("email", ADMIN), ("password", "nope"), ("csrf", &token)],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text.contains("wrong email or password"));
    // An outside `next` is refused before any session is opened.
    let token = HttpClient::hidden_field(&wrong.text, "csrf").expect("new token");
    let outside = client
        .post_form(
            "/login",
            &[
                ("email", ADMIN),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(outside.status, 400);
    assert!(client.cookie("liaison_session").is_none());
    let token = HttpClient::hidden_field(&outside.text, "csrf").expect("new token");
    let reply = client
        .post_form(
            "/login",
            &[("email", ADMIN), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(location(&reply), "/");
    assert!(client.get("/").await.text.contains("Recent changes"));
}

#[tokio::test]
async fn every_form_needs_the_pages_token() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let missing = client.post_form("/organisations", &[("name", "A")]).await;
    assert_eq!(missing.status, 403);
    let wrong = client
        .post_form("/organisations", &[("name", "A"), ("csrf", "forged")])
        .await;
    assert_eq!(wrong.status, 403);
    assert!(
        !client.get("/organisations").await.text.contains(">A</a>"),
        "nothing stored"
    );
    let created = client
        .post_form("/organisations", &[("name", "A"), ("csrf", &token)])
        .await;
    assert_eq!(created.status, 303);
    assert!(location(&created).starts_with("/contacts/"));
    let logout = client.post_form("/logout", &[("csrf", "forged")]).await;
    assert_eq!(logout.status, 403);
    let logout = client.post_form("/logout", &[("csrf", &token)]).await;
    assert_eq!(location(&logout), "/login");
    assert_eq!(client.get("/").await.status, 303, "logged out");
}

#[tokio::test]
async fn what_people_type_is_shown_escaped_everywhere() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let script = "<script>alert(1)</script>";
    let created = client
        .post_form(
            "/organisations",
            &[
                ("name", script),
                ("tags", "<b>bold</b>"),
                ("notes", "\"quoted\" & <i>"),
                ("csrf", &token),
            ],
        )
        .await;
    let entity = location(&created);
    let other = client
        .post_form("/organisations", &[("name", "Plain"), ("csrf", &token)])
        .await;
    let plain = location(&other);
    client
        .post_form(
            &format!("{plain}/relations"),
            &[
                ("predicate", "partner_of"),
                ("target_name", script),
                ("csrf", &token),
            ],
        )
        .await;
    let edit = format!("{entity}/edit");
    for path in [
        "/",
        "/organisations",
        entity.as_str(),
        plain.as_str(),
        edit.as_str(),
    ] {
        let page = client.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.text.contains(script),
            "{path} shows the name unescaped"
        );
        assert!(!page.text.contains("<b>bold</b>"), "{path}");
        assert!(
            page.text.contains("alert(1)"),
            "{path} shows the name, escaped"
        );
    }
    // A refused form shows the typed values back, escaped.
    let refused = client
        .post_form(
            "/persons",
            &[
                ("given_name", script),
                ("email", "not an email"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("role=\"alert\""));
    assert!(!refused.text.contains(script));
    assert!(refused.text.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn relations_are_added_and_removed_from_the_entity_page() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let mut pages = Vec::new();
    for name in ["A", "D"] {
        let created = client
            .post_form("/organisations", &[("name", name), ("csrf", &token)])
            .await;
        pages.push(location(&created));
    }
    let (a, d) = (&pages[0], &pages[1]);
    let page = client.get(d).await;
    assert!(page.text.contains("Add a relation"));
    assert!(
        page.text.contains("value=\"competitor_of\""),
        "types that fit an organisation"
    );
    assert!(
        !page.text.contains("value=\"employed_by\""),
        "not a person's types"
    );

    let added = client
        .post_form(
            &format!("{d}/relations"),
            &[
                ("predicate", "competitor_of"),
                ("target_name", "a"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.text);
    let page = client.get(d).await;
    assert!(page.text.contains("<h3>is a competitor of</h3>"));
    assert!(page.text.contains(&format!("href=\"{a}\">A</a>")));
    // The mirror shows on A's page.
    assert!(client.get(a).await.text.contains("is a competitor of"));

    let unknown = client
        .post_form(
            &format!("{d}/relations"),
            &[
                ("predicate", "competitor_of"),
                ("target_name", "Nobody"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.text.contains("No contact is named"));
    let again = client
        .post_form(
            &format!("{d}/relations"),
            &[
                ("predicate", "competitor_of"),
                (
                    "target",
                    &format!("contacts.organisation:{}", &a["/contacts/".len()..]),
                ),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.text.contains("already"), "{}", again.text);

    let remove = page
        .text
        .split("action=\"")
        .find(|part| part.contains("/delete\""))
        .and_then(|part| part.split('"').next())
        .expect("a remove form")
        .to_owned();
    let removed = client.post_form(&remove, &[("csrf", &token)]).await;
    assert_eq!(removed.status, 303);
    assert!(client.get(d).await.text.contains("No relations yet."));
    assert!(
        client.get(a).await.text.contains("No relations yet."),
        "mirror gone too"
    );
    // Both pages' histories say who added and removed it, newest first.
    for (page, other) in [(d, "A"), (a, "D")] {
        let text = client.get(page).await.text;
        let history = text
            .split("id=\"history-title\"")
            .nth(1)
            .expect("a history section");
        let removed = history
            .find(&format!(
                "<strong>Administrator</strong>: relation removed: is a competitor of {other}"
            ))
            .expect("the removal");
        let added = history
            .find(&format!(
                "<strong>Administrator</strong>: relation added: is a competitor of {other}"
            ))
            .expect("the addition");
        let created = history
            .find("<strong>Administrator</strong>: created")
            .expect("the creation");
        assert!(removed < added && added < created, "newest first");
    }
}

#[tokio::test]
async fn lists_search_filter_and_page() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    for index in 0..55 {
        let name = format!("Company {index:02}");
        let managed = if index == 7 { "on" } else { "" };
        let mut fields = vec![("name", name.as_str()), ("csrf", token.as_str())];
        if !managed.is_empty() {
            fields.push(("managed", managed));
        }
        assert_eq!(
            client.post_form("/organisations", &fields).await.status,
            303
        );
    }
    let first = client.get("/organisations").await;
    assert!(first.text.contains("(55)"));
    assert!(first.text.contains(">Company 00</a>") && !first.text.contains(">Company 50</a>"));
    let next = first
        .text
        .split("href=\"")
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| part.split('"').next())
        .expect("next page link")
        .replace("&amp;", "&");
    let second = client.get(&next).await;
    assert!(second.text.contains(">Company 54</a>"), "{next}");
    let ours = client.get("/organisations?managed=true").await;
    assert!(ours.text.contains("(1)") && ours.text.contains(">Company 07</a>"));
    let searched = client
        .get("/organisations?q=company+3&sort=name&order=desc")
        .await;
    assert!(searched.text.contains(">Company 39</a>"));
    let persons = client.get("/persons").await;
    assert!(persons.text.contains("No person matches."));
}

#[tokio::test]
async fn custom_types_are_made_from_the_ui_and_the_neighbourhood_is_drawn() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let types = client.get("/relation-types").await;
    assert!(
        types.text.contains("is employed by"),
        "built-in types listed"
    );
    let refused = client
        .post_form(
            "/relation-types",
            &[
                ("verb", ""),
                ("symmetric_verb", "has as lead"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.text.contains("role=\"alert\""));
    let created = client
        .post_form(
            "/relation-types",
            &[
                ("verb", "is a lead of"),
                ("symmetric_verb", "has as lead"),
                ("subject_organisation", "on"),
                ("object_organisation", "on"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    // A verb another type reads already is refused: the picker would show
    // two entries alike.
    let same = client
        .post_form(
            "/relation-types",
            &[
                ("verb", "Is a Prospect of"),
                ("symmetric_verb", "has lead"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(same.status, 400);
    assert!(
        html_unescape(&same.text).contains("A relation type already reads “Is a Prospect of”"),
        "{}",
        same.text
    );
    // A verb that reads the same both ways is made from the form.
    let mutual = client
        .post_form(
            "/relation-types",
            &[
                ("verb", "works alongside"),
                ("subject_organisation", "on"),
                ("object_organisation", "on"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(mutual.status, 303, "{}", mutual.text);
    let mixed = client
        .post_form(
            "/relation-types",
            &[
                ("verb", "stands beside"),
                ("subject_person", "on"),
                ("object_organisation", "on"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(mixed.status, 400);
    assert!(mixed.text.contains("links the same kinds on both sides"));
    let types = client.get("/relation-types").await;
    assert!(types
        .text
        .contains("is a lead of <span class=\"badge\">custom</span>"));

    let mut pages = Vec::new();
    for name in ["A", "C", "D"] {
        let reply = client
            .post_form("/organisations", &[("name", name), ("csrf", &token)])
            .await;
        pages.push(location(&reply));
    }
    let (a, c, d) = (&pages[0], &pages[1], &pages[2]);
    let page = client.get(c).await;
    // No verb chosen before the user does; built-in and custom verbs in
    // their groups, each read from this contact.
    assert!(page
        .text
        .contains("<option value=\"\" selected disabled>Choose what C is…</option>"));
    let built_in = page
        .text
        .find("<optgroup label=\"Built-in\">")
        .expect("built-in");
    let custom = page
        .text
        .find("<optgroup label=\"Custom\">")
        .expect("custom");
    let lead = page
        .text
        .find(">C is a lead of …<")
        .expect("the custom verb");
    let partner = page
        .text
        .find(">C is a partner of …<")
        .expect("a built-in verb");
    assert!(built_in < partner && partner < custom && custom < lead);
    let predicate = page
        .text
        .split("<option value=\"")
        .find(|part| part.starts_with("custom-") && part.contains(" is a lead of …<"))
        .and_then(|part| part.split('"').next())
        .expect("the custom type is offered")
        .to_owned();
    for target in ["A", "D"] {
        let reply = client
            .post_form(
                &format!("{c}/relations"),
                &[
                    ("predicate", &predicate),
                    ("target_name", target),
                    ("csrf", &token),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text);
    }
    client
        .post_form(
            &format!("{d}/relations"),
            &[
                ("predicate", "competitor_of"),
                ("target_name", "A"),
                ("csrf", &token),
            ],
        )
        .await;
    let one_hop = client.get(a).await;
    assert!(one_hop.text.contains("<svg class=\"graph\""));
    assert!(
        one_hop.text.contains(&format!("<a href=\"{c}\">")),
        "C drawn next to A"
    );
    assert!(one_hop.text.contains("<title>has as lead</title>"));
    let two_hops = client.get(&format!("{a}?hops=2")).await;
    let drawn = two_hops.text.matches("<g class=\"node hop").count();
    assert_eq!(
        drawn, 3,
        "A, then C and D; C's and D's other ends are A and each other"
    );
    // A–C, A–D, and C–D once, though met from both C and D; the last one
    // reads from whichever end was drawn first.
    assert_eq!(two_hops.text.matches("<path class=\"edge\"").count(), 3);
    let second_hop_read = two_hops.text.contains("<title>is a lead of</title>")
        || two_hops.text.matches("<title>has as lead</title>").count() == 2;
    assert!(second_hop_read, "C to D, second hop");
    // Only the edges from A carry a visible label.
    assert_eq!(two_hops.text.matches("class=\"edge-label\"").count(), 2);

    let disable = types
        .text
        .split("action=\"")
        .find(|part| part.starts_with(&format!("/relation-types/{predicate}/disable")))
        .and_then(|part| part.split('"').next())
        .expect("a disable button")
        .to_owned();
    assert_eq!(
        client.post_form(&disable, &[("csrf", &token)]).await.status,
        303
    );
    let page = client.get(c).await;
    assert!(
        !page.text.contains(&format!("value=\"{predicate}\"")),
        "a disabled type is no longer offered"
    );
}

#[tokio::test]
async fn contacts_go_to_the_trash_come_back_and_are_deleted_from_their_page() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let created = client
        .post_form("/organisations", &[("name", "Old Co"), ("csrf", &token)])
        .await;
    let page_path = location(&created);
    let id = page_path.rsplit('/').next().expect("id").to_owned();
    let page = client.get(&page_path).await;
    assert!(page.text.contains("Move to trash"));
    let version = HttpClient::hidden_field(&page.text, "version").expect("version");

    // A version older than the stored one is refused, and nothing changes.
    let stale = client
        .post_form(
            &format!("{page_path}/trash"),
            &[("csrf", &token), ("version", "0")],
        )
        .await;
    assert_eq!(stale.status, 400, "{}", stale.text);
    assert!(stale.text.contains("role=\"alert\""));
    assert!(client.get(&page_path).await.text.contains("Move to trash"));
    // Without the page's token: refused, nothing changes.
    let forged = client
        .post_form(
            &format!("{page_path}/trash"),
            &[("csrf", "forged"), ("version", &version)],
        )
        .await;
    assert_eq!(forged.status, 403);

    let trashed = client
        .post_form(
            &format!("{page_path}/trash"),
            &[("csrf", &token), ("version", &version)],
        )
        .await;
    assert_eq!(trashed.status, 303, "{}", trashed.text);
    let page = client.get(&page_path).await;
    assert!(page.text.contains("<span class=\"badge\">in trash</span>"));
    assert!(page.text.contains("Delete for good"));
    assert!(
        !page.text.contains("Add a relation"),
        "an entity in the trash takes no new relation"
    );
    assert!(!page.text.contains("Duplicate"));
    let listed = client.get("/organisations?trash=only").await;
    assert!(listed.text.contains(&format!("/contacts/{id}")));
    assert!(!client
        .get("/organisations")
        .await
        .text
        .contains(&format!("/contacts/{id}")));

    let version = HttpClient::hidden_field(&page.text, "version").expect("version");
    let restored = client
        .post_form(
            &format!("{page_path}/restore"),
            &[("csrf", &token), ("version", &version)],
        )
        .await;
    assert_eq!(restored.status, 303, "{}", restored.text);
    let page = client.get(&page_path).await;
    assert!(page.text.contains("Move to trash"));
    // Only a contact in the trash can be deleted for good.
    let version = HttpClient::hidden_field(&page.text, "version").expect("version");
    let refused = client
        .post_form(
            &format!("{page_path}/delete"),
            &[("csrf", &token), ("version", &version)],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(client.get(&page_path).await.status.is_success());

    client
        .post_form(
            &format!("{page_path}/trash"),
            &[("csrf", &token), ("version", &version)],
        )
        .await;
    let page = client.get(&page_path).await;
    let version = HttpClient::hidden_field(&page.text, "version").expect("version");
    let deleted = client
        .post_form(
            &format!("{page_path}/delete"),
            &[("csrf", &token), ("version", &version)],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.text);
    assert_eq!(location(&deleted), "/organisations?trash=only");
    assert_eq!(client.get(&page_path).await.status, 404);
}

#[tokio::test]
async fn a_contact_is_duplicated_from_its_page_with_its_copiable_relations() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let mut pages = Vec::new();
    for name in ["Acme", "Supplier Co"] {
        let created = client
            .post_form("/organisations", &[("name", name), ("csrf", &token)])
            .await;
        pages.push(location(&created));
    }
    let supplier_id = pages[1].rsplit('/').next().expect("id").to_owned();
    let related = client
        .post_form(
            &format!("{}/relations", pages[0]),
            &[
                ("csrf", &token),
                ("predicate", "customer_of"),
                ("target", &format!("contacts.organisation:{supplier_id}")),
                ("target_name", "Supplier Co"),
            ],
        )
        .await;
    assert_eq!(related.status, 303, "{}", related.text);
    let duplicated = client
        .post_form(&format!("{}/duplicate", pages[0]), &[("csrf", &token)])
        .await;
    assert_eq!(duplicated.status, 303, "{}", duplicated.text);
    let copy_path = location(&duplicated);
    assert_ne!(copy_path, pages[0]);
    let copy = client.get(&copy_path).await;
    assert!(copy.text.contains("<h1>Acme"), "{}", copy.text);
    assert!(copy.text.contains("Supplier Co"), "its relation came along");
    let forged = client
        .post_form(&format!("{}/duplicate", pages[0]), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, 403);
}

#[tokio::test]
async fn the_start_up_log_names_the_web_address_and_the_first_admin_without_colours() {
    let (liaison, _dir) = start().await;
    let log = liaison.log_text();
    assert!(
        log.contains("first start: admin account created with the configured password"),
        "{log}"
    );
    assert!(
        log.contains(&format!("web=http://{}/", liaison.http_addr)),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
}

#[tokio::test]
async fn unknown_pages_and_contacts_get_a_404_page_and_unknown_api_routes_json() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    log_in(&client).await;
    let unknown_id = "01938f4e-7a2b-7c3d-8e4f-5a6b7c8d9e0f";
    for path in [
        "/no-such-page".to_owned(),
        "/contacts/not-an-id".to_owned(),
        format!("/contacts/{unknown_id}"),
    ] {
        let page = client.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.text);
        assert!(
            page.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html")),
            "{path}"
        );
        assert!(
            page.text.contains("<h1>404 Not Found</h1>"),
            "{path}: {}",
            page.text
        );
    }
    let api = client.get("/api/no-such-route").await;
    assert_eq!(api.status, 404);
    assert_eq!(api.json["error"]["code"], "not_found", "{}", api.text);
}
