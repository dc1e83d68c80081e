//! The web UI in a real browser (headless Chromium over WebDriver): the
//! relation scenario of DOMAIN.md §1 recorded from the pages, script and
//! keyboard included, then checked through the REST API. Screenshots of the
//! key pages are kept under `tests/artefacts/screenshots/`.

use std::path::PathBuf;

use liaison_tests::browser::{keys, Browser};
use liaison_tests::http::HttpClient;
use liaison_tests::Liaison;

const ADMIN: &str = "admin@localhost";
const PASSWORD: &str = "correct horse battery";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artefacts/screenshots")
}

async fn start() -> (Liaison, tempfile::TempDir) {
    Liaison::start_with_admin(PASSWORD).await
}

/// How the other end of a new relation is picked in the combobox.
#[derive(Clone, Copy)]
enum Pick {
    Mouse,
    Keyboard,
}

/// On `subject`'s page: picks the type `option` (a selector suffix and its
/// label), searches `target` by
/// typing, picks it from the suggestions, adds; waits for the Relations
/// block to show `expected_total` relations.
async fn relate(
    browser: &Browser,
    base: &str,
    subject: &str,
    option: (&str, &str),
    target: (&str, &str),
    pick: Pick,
    expected_total: usize,
) {
    let (target_name, target_id) = target;
    browser
        .goto(&format!("{base}/contacts/{subject}"))
        .await
        .expect("entity page");
    let (option_css, option_label) = option;
    let choice = browser
        .find_with_text(&format!("#predicate option{option_css}"), option_label)
        .await
        .expect("the type is offered for this kind");
    browser.click(&choice).await.expect("choose the type");
    let input = browser.find("#target_name").await.expect("combobox");
    browser.click(&input).await.expect("focus");
    browser.type_into(&input, target_name).await.expect("type");
    let suggestion = browser
        .find_with_text(
            "#target-options li",
            &format!("{target_name} (organisation)"),
        )
        .await
        .expect("search-as-you-type suggests the organisation");
    match pick {
        Pick::Mouse => browser.click(&suggestion).await.expect("pick"),
        Pick::Keyboard => {
            browser
                .type_into(&input, keys::ARROW_DOWN)
                .await
                .expect("arrow down");
            browser.type_into(&input, keys::ENTER).await.expect("enter");
        }
    }
    let picked = browser.find("#target").await.expect("hidden target");
    assert_eq!(
        browser.property(&picked, "value").await.expect("value"),
        format!("contacts.organisation:{target_id}"),
        "the suggestion fills the form with the organisation's reference"
    );
    let add = browser
        .find("form.add-relation button[type=submit]")
        .await
        .expect("add button");
    browser.click(&add).await.expect("add");
    browser
        .find_with_text("#relations-title", &format!("({expected_total})"))
        .await
        .expect("the relation is listed on the page");
}

#[tokio::test]
async fn the_relation_scenario_is_recorded_from_the_pages_in_chromium() {
    let (liaison, _dir) = start().await;
    let base = format!("http://{}", liaison.http_addr);
    let browser = Browser::start(&screenshots()).await.expect("chromium");

    // A stranger is sent to the login form, and back where they were going.
    browser
        .goto(&format!("{base}/organisations"))
        .await
        .expect("go");
    browser
        .wait_for_url(|url| url.contains("/login"))
        .await
        .expect("sent to log in");
    browser.screenshot("01-login").await.expect("screenshot");
    browser.fill("#email", ADMIN).await.expect("email");
    browser.fill("#password", PASSWORD).await.expect("password");
    let after_login = browser
        .click_and_wait_for_navigation("main form button[type=submit]")
        .await
        .expect("log in");
    assert!(after_login.ends_with("/organisations"), "{after_login}");

    // Companies A (ours), B, C and D, from the creation form.
    let mut ids = Vec::new();
    for name in ["A", "B", "C", "D"] {
        browser
            .goto(&format!("{base}/organisations/new"))
            .await
            .expect("form");
        browser.fill("#name", name).await.expect("name");
        if name == "A" {
            let ours = browser
                .find("input[name=managed]")
                .await
                .expect("managed box");
            browser.click(&ours).await.expect("tick");
        }
        let page = browser
            .click_and_wait_for_navigation("main form button[type=submit]")
            .await
            .expect("create");
        let id = page
            .rsplit('/')
            .next()
            .expect("the entity page's address ends with its id")
            .to_owned();
        let heading = browser.find("h1").await.expect("heading");
        assert_eq!(browser.text(&heading).await.expect("text"), name);
        ids.push(id);
    }
    let (a, b, c, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    browser
        .goto(&format!("{base}/organisations"))
        .await
        .expect("list");
    browser
        .find_with_text("table.list", "D")
        .await
        .expect("the four listed");
    browser.screenshot("02-organisations").await.expect("shot");

    // The custom type, from the relation types page.
    browser
        .goto(&format!("{base}/relation-types"))
        .await
        .expect("types");
    browser.fill("#verb", "is a lead of").await.expect("verb");
    browser
        .fill("#symmetric_verb", "has as lead")
        .await
        .expect("symmetric verb");
    for kind in ["subject_organisation", "object_organisation"] {
        let tick = browser
            .find(&format!("input[name={kind}]"))
            .await
            .expect("kind box");
        browser.click(&tick).await.expect("tick");
    }
    let create = browser
        .find("form.form button[type=submit]")
        .await
        .expect("create type");
    browser.click(&create).await.expect("create");
    browser
        .find_with_text("table.list tr", "is a lead of custom")
        .await
        .expect("the custom type is listed");
    browser.screenshot("03-relation-types").await.expect("shot");
    // Custom verbs are offered in their own group.
    let custom = ("[value^='custom-']", "is a lead of");

    // DOMAIN.md §1, from the entity pages, by mouse and by keyboard.
    relate(
        &browser,
        &base,
        b,
        ("[value='customer_of']", "is a customer of"),
        ("A", a),
        Pick::Mouse,
        1,
    )
    .await;
    relate(&browser, &base, c, custom, ("A", a), Pick::Keyboard, 1).await;
    relate(
        &browser,
        &base,
        d,
        ("[value='competitor_of']", "is a competitor of"),
        ("A", a),
        Pick::Mouse,
        1,
    )
    .await;
    relate(&browser, &base, c, custom, ("D", d), Pick::Mouse, 2).await;

    // D's page shows its relations grouped by predicate, and its picture.
    browser
        .goto(&format!("{base}/contacts/{d}?hops=2"))
        .await
        .expect("D");
    let block = browser.find("#relations").await.expect("relations block");
    let text = browser.text(&block).await.expect("text");
    assert!(text.contains("has as lead\nC"), "{text}");
    assert!(text.contains("is a competitor of\nA"), "{text}");
    browser
        .find("svg.graph")
        .await
        .expect("the neighbourhood is drawn");
    browser.screenshot("04-entity-d").await.expect("shot");
    browser
        .goto(&format!("{base}/contacts/{c}"))
        .await
        .expect("C");
    browser.screenshot("05-entity-c").await.expect("shot");

    // Through the REST API: the triples and their symmetric ones.
    let api = HttpClient::new(&liaison.http_addr);
    assert_eq!(api.login(ADMIN, PASSWORD).await.status, 201);
    let org = |id: &str| format!("contacts.organisation:{id}");
    let predicate = {
        let found = api.get(&format!("/api/triples?subject={}", org(c))).await;
        let items = found.json["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter_map(|t| t["predicate"].as_str())
            .find(|p| p.starts_with("custom-"))
            .expect("C's custom relations")
            .to_owned()
    };
    let objects_of = |subject: String, predicate: String| {
        let api = &api;
        async move {
            let found = api
                .get(&format!(
                    "/api/triples?subject={subject}&predicate={predicate}"
                ))
                .await;
            assert_eq!(found.status, 200, "{}", found.text);
            let mut labels: Vec<String> = found.json["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|t| t["object_label"].as_str().map(str::to_owned))
                .collect();
            labels.sort();
            labels
        }
    };
    assert_eq!(objects_of(org(b), "customer_of".into()).await, ["A"]);
    assert_eq!(objects_of(org(a), "supplier_of".into()).await, ["B"]);
    assert_eq!(objects_of(org(d), "competitor_of".into()).await, ["A"]);
    assert_eq!(objects_of(org(a), "competitor_of".into()).await, ["D"]);
    assert_eq!(objects_of(org(c), predicate.clone()).await, ["A", "D"]);
    let kind = api.get(&format!("/api/relation-types/{predicate}")).await;
    let symmetric = kind.json["object_side"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the custom type's symmetric predicate: {}", kind.text))
        .to_owned();
    // Who prospects C? A and D.
    let who = api
        .get(&format!(
            "/api/triples?predicate={symmetric}&object={}",
            org(c)
        ))
        .await;
    let mut prospectors: Vec<&str> = who.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["subject_label"].as_str())
        .collect();
    prospectors.sort();
    assert_eq!(prospectors, ["A", "D"], "{}", who.text);
    assert_eq!(objects_of(org(d), symmetric).await, ["C"]);
}

/// Logs in through the form, from a page that needs it.
async fn log_in(browser: &Browser, base: &str) {
    browser.goto(&format!("{base}/")).await.expect("go");
    browser
        .wait_for_url(|url| url.contains("/login"))
        .await
        .expect("sent to log in");
    browser.fill("#email", ADMIN).await.expect("email");
    browser.fill("#password", PASSWORD).await.expect("password");
    browser
        .click_and_wait_for_navigation("main form button[type=submit]")
        .await
        .expect("log in");
}

/// Creates a person from the form; returns its id.
async fn new_person(
    browser: &Browser,
    base: &str,
    given: &str,
    family: &str,
    email: &str,
) -> String {
    browser
        .goto(&format!("{base}/persons/new"))
        .await
        .expect("form");
    browser
        .fill("#given_name", given)
        .await
        .expect("given name");
    browser
        .fill("#family_name", family)
        .await
        .expect("family name");
    browser.fill("#email", email).await.expect("email");
    let page = browser
        .click_and_wait_for_navigation("main form button[type=submit]")
        .await
        .expect("create");
    page.rsplit('/').next().expect("id").to_owned()
}

#[tokio::test]
async fn a_person_is_edited_and_a_duplicate_merged_in_chromium() {
    let (liaison, _dir) = start().await;
    let base = format!("http://{}", liaison.http_addr);
    let browser = Browser::start(&screenshots()).await.expect("chromium");
    log_in(&browser, &base).await;
    let ada = new_person(&browser, &base, "Ada", "Lovelace", "ada@example.com").await;
    let duplicate = new_person(&browser, &base, "A.", "Lovelace", "countess@example.com").await;

    // The edit form: typing into the blank row adds another one.
    browser
        .goto(&format!("{base}/contacts/{ada}/edit"))
        .await
        .expect("edit");
    assert!(
        browser.find("#emails-2-address").await.is_err(),
        "one blank row"
    );
    browser
        .fill("#emails-1-address", "ada@work.example")
        .await
        .expect("second email");
    let third = browser
        .find("#emails-2-address")
        .await
        .expect("a new blank row, added as the last one filled");
    browser
        .type_into(&third, "ada@home.example")
        .await
        .expect("third");
    browser
        .fill("#emails-1-label", "work")
        .await
        .expect("label");
    let primary = browser
        .find("input[name=email_primary][value='1']")
        .await
        .expect("primary mark of the second row");
    browser.click(&primary).await.expect("primary");
    browser.fill("#job_title", "Countess").await.expect("job");
    browser.screenshot("06-edit").await.expect("shot");
    browser
        .click_and_wait_for_navigation("main form button[type=submit]")
        .await
        .expect("save");
    let fields = browser.find("dl.fields").await.expect("fields");
    let text = browser.text(&fields).await.expect("text");
    assert!(
        text.contains("ada@example.com\nada@work.example (work, primary)\nada@home.example"),
        "each email on its line, with its label and primary mark: {text}"
    );
    assert!(text.contains("Countess"), "{text}");

    // Merge: the duplicate found by typing, reviewed side by side.
    let merge = browser
        .find_with_text(".actions a", "Merge")
        .await
        .expect("merge link");
    browser.click(&merge).await.expect("merge");
    let input = browser.find("#duplicate_name").await.expect("search box");
    browser.click(&input).await.expect("focus");
    browser.type_into(&input, "A. Love").await.expect("type");
    browser
        .find_with_text("#duplicate-options li", "A. Lovelace (person)")
        .await
        .expect("the duplicate is suggested");
    browser
        .type_into(&input, keys::ARROW_DOWN)
        .await
        .expect("arrow down");
    browser.type_into(&input, keys::ENTER).await.expect("enter");
    let picked = browser.find("#duplicate").await.expect("hidden field");
    assert_eq!(
        browser.property(&picked, "value").await.expect("value"),
        format!("contacts.person:{duplicate}")
    );
    browser
        .click_and_wait_for_navigation("main form button[type=submit]")
        .await
        .expect("compare");
    browser
        .find_with_text("table.compare", "countess@example.com")
        .await
        .expect("the comparison");
    browser.screenshot("07-merge").await.expect("shot");
    let after = browser
        .click_and_wait_for_navigation("main form button.danger")
        .await
        .expect("merge");
    assert!(after.ends_with(&format!("/contacts/{ada}")), "{after}");
    let fields = browser.find("dl.fields").await.expect("fields");
    let text = browser.text(&fields).await.expect("text");
    assert!(text.contains("countess@example.com"), "{text}");

    // The account page: a token, shown once.
    browser
        .goto(&format!("{base}/account"))
        .await
        .expect("account");
    browser
        .fill("#token-name", "nightly export")
        .await
        .expect("name");
    browser
        .click_and_wait_for_navigation("#tokens form.form button[type=submit]")
        .await
        .expect("create token");
    let token = browser.find("#new-token").await.expect("the new token");
    assert!(!browser
        .property(&token, "value")
        .await
        .expect("value")
        .is_empty());
    browser.screenshot("08-account").await.expect("shot");
    browser.goto(&format!("{base}/users")).await.expect("users");
    browser.screenshot("09-users").await.expect("shot");
}

#[tokio::test]
async fn removing_a_relation_asks_first_in_chromium() {
    let (liaison, _dir) = start().await;
    let base = format!("http://{}", liaison.http_addr);
    let api =
        liaison_tests::gateway::logged_in(&liaison.http_addr, liaison_tests::gateway::ADMIN).await;
    let acme = liaison_tests::gateway::organisation(&api, "Acme").await;
    let beta = liaison_tests::gateway::organisation(&api, "Beta").await;
    let related = api
        .post(
            "/api/relations",
            serde_json::json!({"subject": liaison_tests::gateway::org(&beta), "predicate": "customer_of",
                   "object": liaison_tests::gateway::org(&acme)}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);
    let browser = Browser::start(&screenshots()).await.expect("chromium");
    log_in(&browser, &base).await;
    browser
        .goto(&format!("{base}/contacts/{beta}"))
        .await
        .expect("entity page");
    let remove = "form[data-confirm] button[aria-label^='Remove']";
    let button = browser.find(remove).await.expect("remove button");
    browser.click(&button).await.expect("click remove");
    let question = browser.answer_dialog(false).await.expect("the question");
    assert_eq!(question, "Remove the relation: Beta is a customer of Acme?");
    browser
        .find_with_text("#relations-title", "(1)")
        .await
        .expect("dismissed: the relation stays");
    let button = browser.find(remove).await.expect("remove button");
    browser.click(&button).await.expect("click remove");
    browser.answer_dialog(true).await.expect("accept");
    browser
        .find_with_text("#relations-title", "(0)")
        .await
        .expect("accepted: the relation is removed");
}
