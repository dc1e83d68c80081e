//! The web UI over HTTP, as a browser without script uses it: the login
//! form and its token, redirects, CSRF on every form, escaping of what
//! people typed, lists, creation forms, and relations from the entity page.

use liaison_tests::http::{HttpClient, Reply};
use liaison_tests::Liaison;

const ADMIN: &str = "admin@localhost";
const PASSWORD: &str = "correct horse battery";

async fn start() -> (Liaison, tempfile::TempDir) {
    Liaison::start_with_admin(PASSWORD).await
}

fn location(reply: &Reply) -> String {
    reply
        .headers
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Logs in through the form; returns the page's CSRF token.
async fn log_in(client: &HttpClient) -> String {
    log_in_as(client, ADMIN, PASSWORD).await
}

async fn log_in_as(client: &HttpClient, email: &str, password: &str) -> String {
    let page = client.get("/login?next=/organisations").await;
    let token = HttpClient::hidden_field(&page.text, "csrf").expect("login token");
    let reply = client
        .post_form(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &token),
                ("next", "/organisations"),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    assert_eq!(location(&reply), "/organisations");
    let home = client.get("/").await;
    HttpClient::hidden_field(&home.text, "csrf").expect("page token")
}

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
    // An outside `next` is not followed.
    let token = HttpClient::hidden_field(&wrong.text, "csrf").expect("new token");
    let reply = client
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
                ("symmetric_verb", "has prospect"),
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
                ("verb", "is a prospect of"),
                ("symmetric_verb", "has prospect"),
                ("subject_organisation", "on"),
                ("object_organisation", "on"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.text);
    let types = client.get("/relation-types").await;
    assert!(types
        .text
        .contains("is a prospect of <span class=\"badge\">custom</span>"));

    let mut pages = Vec::new();
    for name in ["A", "C", "D"] {
        let reply = client
            .post_form("/organisations", &[("name", name), ("csrf", &token)])
            .await;
        pages.push(location(&reply));
    }
    let (a, c, d) = (&pages[0], &pages[1], &pages[2]);
    let page = client.get(c).await;
    let predicate = page
        .text
        .split("<option value=\"")
        .find(|part| part.starts_with("custom-") && part.contains(">is a prospect of<"))
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
    assert!(one_hop.text.contains("<title>has prospect</title>"));
    let two_hops = client.get(&format!("{a}?hops=2")).await;
    let drawn = two_hops.text.matches("<g class=\"node hop").count();
    assert_eq!(
        drawn, 3,
        "A, then C and D; C's and D's other ends are A and each other"
    );
    // A–C, A–D, and C–D once, though met from both C and D; the last one
    // reads from whichever end was drawn first.
    assert_eq!(two_hops.text.matches("<path class=\"edge\"").count(), 3);
    let second_hop_read = two_hops.text.contains("<title>is a prospect of</title>")
        || two_hops.text.matches("<title>has prospect</title>").count() == 2;
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

/// The fields of the page's form that posts to `action`, as a browser
/// would send them back unchanged: inputs with their values, checked boxes and radios, text
/// areas, selected options.
fn form_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let unescape = html_unescape;
    let start = page
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posts to {action}"));
    let end = start + page[start..].find("</form>").expect("form end");
    let page = &page[start..end];
    let attribute = |tag: &str, name: &str| {
        let marker = format!(" {name}=\"");
        tag.find(&marker).map(|start| {
            let start = start + marker.len();
            let end = tag[start..].find('"').map_or(tag.len(), |end| start + end);
            unescape(&tag[start..end])
        })
    };
    let mut fields = Vec::new();
    for (index, _) in page.match_indices("<input ") {
        let tag = &page[index..index + page[index..].find('>').expect("tag end")];
        let (Some(name), value) = (attribute(tag, "name"), attribute(tag, "value")) else {
            continue;
        };
        let kind = attribute(tag, "type").unwrap_or_default();
        if (kind == "checkbox" || kind == "radio") && !tag.contains(" checked") {
            continue;
        }
        fields.push((name, value.unwrap_or_default()));
    }
    for (index, _) in page.match_indices("<textarea ") {
        let open_end = index + page[index..].find('>').expect("tag end");
        let name = attribute(&page[index..open_end], "name").expect("named");
        let close = open_end + page[open_end..].find("</textarea>").expect("closed");
        fields.push((name, unescape(&page[open_end + 1..close])));
    }
    for (index, _) in page.match_indices("<select ") {
        let open_end = index + page[index..].find('>').expect("tag end");
        let name = attribute(&page[index..open_end], "name").expect("named");
        let close = open_end + page[open_end..].find("</select>").expect("closed");
        let selected = page[open_end..close]
            .split("<option")
            .find(|option| option.contains(" selected"))
            .and_then(|option| attribute(option, "value"))
            .unwrap_or_default();
        fields.push((name, selected));
    }
    fields
}

/// Text of an HTML page as the browser reads it (askama writes `&#60;`).
fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix('#')
                .and_then(|number| number.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn with(fields: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = fields
        .iter()
        .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
        .cloned()
        .collect();
    fields.extend(
        changes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    fields
}

async fn post_fields(client: &HttpClient, path: &str, fields: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    client.post_form(path, &pairs).await
}

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
    assert_eq!(client.get("/contacts/not-a-contact/edit").await.status, 400);
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
    assert!(page.text.contains("<dt>Ours</dt><dd>no</dd>"));
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
}

#[tokio::test]
async fn admins_manage_users_from_the_users_page_and_no_one_else_can() {
    let (liaison, _dir) = start().await;
    let admin = HttpClient::new(&liaison.http_addr);
    let token = log_in(&admin).await;
    let users = admin.get("/users").await;
    assert_eq!(users.status, 200);
    assert!(users.text.contains(ADMIN));
    assert!(
        admin.get("/").await.text.contains("<a href=\"/users\""),
        "in the menu"
    );

    let new_user = |email: &'static str, role: &'static str, password: &'static str| {
        let admin = &admin;
        let token = token.clone();
        async move {
            admin
                .post_form(
                    "/users",
                    &[
                        ("csrf", &token),
                        ("email", email),
                        ("display_name", "Sam <Staff>"),
                        ("role", role),
                        ("password", password),
                    ],
                )
                .await
        }
    };
    let short = new_user("sam@example.com", "staff", "short").await;
    assert_eq!(short.status, 400);
    assert!(short.text.contains("at least 10 characters"));
    assert!(
        short.text.contains("value=\"sam@example.com\""),
        "typed values kept"
    );
    assert!(
        !short.text.contains("value=\"short\""),
        "never the password"
    );
    let bad_role = new_user("sam@example.com", "owner", "long enough password").await;
    assert_eq!(bad_role.status, 400);
    assert!(bad_role.text.contains("is not a role"));
    let bad_email = new_user("not-an-email", "staff", "long enough password").await;
    assert_eq!(bad_email.status, 400);
    assert!(
        !admin.get("/users").await.text.contains("sam@example.com"),
        "nothing stored"
    );
    let forged = admin
        .post_form(
            "/users",
            &[
                ("csrf", "x"),
                ("email", "sam@example.com"),
                ("display_name", "Sam"),
                ("role", "staff"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);

    let created = new_user("sam@example.com", "staff", "long enough password").await;
    assert_eq!(created.status, 303, "{}", created.text);
    let sam_page = location(&created);
    assert!(sam_page.starts_with("/users/"));
    let again = new_user("SAM@example.com", "staff", "long enough password").await;
    assert_eq!(again.status, 409, "{}", again.text);
    let listed = admin.get("/users").await.text;
    assert!(listed.contains("Sam &#60;Staff&#62;") && !listed.contains("Sam <Staff>"));

    // Staff: no Users menu, no users page, no user created.
    let sam = HttpClient::new(&liaison.http_addr);
    let sam_token = log_in_as(&sam, "sam@example.com", "long enough password").await;
    assert!(!sam.get("/").await.text.contains("<a href=\"/users\""));
    assert_eq!(sam.get("/users").await.status, 403);
    assert_eq!(sam.get(&sam_page).await.status, 403);
    let refused = sam
        .post_form(
            "/users",
            &[
                ("csrf", &sam_token),
                ("email", "eve@example.com"),
                ("display_name", "Eve"),
                ("role", "admin"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(!admin.get("/users").await.text.contains("eve@example.com"));

    // A customer sees nothing of the back office.
    let created = new_user("carla@example.com", "customer", "long enough password").await;
    assert_eq!(created.status, 303, "{}", created.text);
    let carla = HttpClient::new(&liaison.http_addr);
    let page = carla.get("/login").await;
    let login_token = HttpClient::hidden_field(&page.text, "csrf").expect("login token");
    let logged_in = carla
        .post_form(
            "/login",
            &[
                ("email", "carla@example.com"),
                ("password", "long enough password"),
                ("csrf", &login_token),
            ],
        )
        .await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.text);
    for path in [
        "/",
        "/persons",
        "/organisations",
        "/relation-types",
        "/account",
        "/users",
        &sam_page,
    ] {
        let page = carla.get(path).await;
        assert_eq!(page.status, 403, "{path}");
        assert!(page.text.contains("no access to the back office"), "{path}");
    }

    // The admin renames Sam and disables the account: Sam's session ends.
    let page = admin.get(&sam_page).await;
    let fields = form_fields(&page.text, &sam_page);
    assert!(fields.contains(&("role".into(), "staff".into())));
    let saved = post_fields(
        &admin,
        &sam_page,
        &with(
            &fields,
            &[("display_name", "Sam Smith"), ("disabled", "on")],
        ),
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    let page = admin.get(&sam_page).await;
    assert!(
        page.text.contains("Sam Smith")
            && page.text.contains("<span class=\"badge\">disabled</span>")
    );
    assert_eq!(sam.get("/").await.status, 303, "Sam is logged out");
    // The form read before that change is stale.
    let stale = post_fields(
        &admin,
        &sam_page,
        &with(&fields, &[("display_name", "Stale")]),
    )
    .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert!(!admin.get(&sam_page).await.text.contains("Stale"));

    // One's own account cannot be disabled, nor left without an admin.
    let own_page = admin
        .get("/users")
        .await
        .text
        .split("<a href=\"/users/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|id| format!("/users/{id}"))
        .expect("the admin's own page");
    let fields = form_fields(&admin.get(&own_page).await.text, &own_page);
    let own = post_fields(&admin, &own_page, &with(&fields, &[("disabled", "on")])).await;
    assert_eq!(own.status, 412, "{}", own.text);
    assert!(own.text.contains("cannot disable your own account"));
    let demoted = post_fields(&admin, &own_page, &with(&fields, &[("role", "staff")])).await;
    assert_eq!(demoted.status, 412, "{}", demoted.text);
    assert!(demoted.text.contains("no enabled admin"));
    assert!(
        admin.get("/users").await.status.is_success(),
        "still admin, still in"
    );
}

#[tokio::test]
async fn people_keep_their_api_tokens_and_change_their_password_from_their_account() {
    let (liaison, _dir) = start().await;
    let client = HttpClient::new(&liaison.http_addr);
    let token = log_in(&client).await;
    let account = client.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.text.contains("No tokens yet."));

    let empty = client
        .post_form(
            "/account/tokens",
            &[("csrf", &token), ("name", " "), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(empty.status, 400);
    assert!(empty.text.contains("aria-invalid=\"true\""));
    let bad_days = client
        .post_form(
            "/account/tokens",
            &[
                ("csrf", &token),
                ("name", "export"),
                ("expires_in_days", "soon"),
            ],
        )
        .await;
    assert_eq!(bad_days.status, 400);
    let forged = client
        .post_form(
            "/account/tokens",
            &[("csrf", "x"), ("name", "export"), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(
        client.get("/account").await.text.contains("No tokens yet."),
        "nothing stored"
    );

    let created = client
        .post_form(
            "/account/tokens",
            &[
                ("csrf", &token),
                ("name", "nightly <export>"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created
        .text
        .split("id=\"new-token\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the token, shown once")
        .to_owned();
    let program = HttpClient::with_bearer(&liaison.http_addr, &secret);
    assert_eq!(program.get("/api/persons").await.status, 200);
    let listed = client.get("/account").await.text;
    assert!(!listed.contains(&secret), "shown only once");
    assert!(listed.contains("nightly &#60;export&#62;"));
    assert!(listed.contains(&secret[..8]), "listed by its start");
    let never = client
        .post_form(
            "/account/tokens",
            &[
                ("csrf", &token),
                ("name", "forever"),
                ("expires_in_days", ""),
            ],
        )
        .await;
    assert_eq!(never.status, 201);
    assert!(client.get("/account").await.text.contains("<td>never</td>"));

    let revoke_path = listed
        .split("action=\"/account/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|path| format!("/account/tokens/{path}"))
        .expect("a revoke button");
    assert_eq!(
        client
            .post_form(&revoke_path, &[("csrf", "x")])
            .await
            .status,
        403
    );
    assert_eq!(program.get("/api/persons").await.status, 200);
    let revoked = client.post_form(&revoke_path, &[("csrf", &token)]).await;
    assert_eq!(revoked.status, 303, "{}", revoked.text);
    assert_eq!(program.get("/api/persons").await.status, 401);
    assert!(client.get("/account").await.text.contains("revoked"));
    let unknown = client
        .post_form("/account/tokens/no-such-token/revoke", &[("csrf", &token)])
        .await;
    assert_eq!(unknown.status, 404);

    // The password: the current one proven, the new one typed twice.
    let change = |current: &'static str, new: &'static str, repeated: &'static str| {
        let client = &client;
        let token = token.clone();
        async move {
            client
                .post_form(
                    "/account/password",
                    &[
                        ("csrf", &token),
                        ("current_password", current),
                        ("new_password", new),
                        ("repeated_password", repeated),
                    ],
                )
                .await
        }
    };
    let wrong = change("nope", "a new long password", "a new long password").await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.text.contains("current password is wrong"));
    let differ = change(PASSWORD, "a new long password", "another long password").await;
    assert_eq!(differ.status, 400);
    assert!(differ.text.contains("differ"));
    let short = change(PASSWORD, "short", "short").await;
    assert_eq!(short.status, 400);
    let changed = change(PASSWORD, "a new long password", "a new long password").await;
    assert_eq!(changed.status, 303, "{}", changed.text);
    assert_eq!(location(&changed), "/login?next=%2Faccount");
    assert_eq!(
        client.get("/account").await.status,
        303,
        "logged out everywhere"
    );
    let again = HttpClient::new(&liaison.http_addr);
    log_in_as(&again, ADMIN, "a new long password").await;
    assert_eq!(again.get("/account").await.status, 200);
}
