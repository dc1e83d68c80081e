//! The gateway as a hostile client meets it: redirects after login,
//! login limits, parallel logins, headers, large and malformed input.

use liaison_tests::gateway::{assert_refused, ADMIN, PASSWORD};
use liaison_tests::http::HttpClient;

use crate::support::Gateway;

async fn login_form(client: &HttpClient, next: &str) -> liaison_tests::http::Reply {
    let page = client.get("/login").await;
    let token = HttpClient::hidden_field(&page.text, "csrf").expect("login token");
    client
        .post_form(
            "/login",
            &[
                ("email", ADMIN),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", next),
            ],
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_follows_only_pages_of_this_site_and_refuses_the_rest_before_opening_a_session() {
    let gateway = Gateway::start().await;
    for next in [
        "/\t/evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "/contacts\r\nSet-Cookie: planted=1",
    ] {
        let client = gateway.client();
        let reply = login_form(&client, next).await;
        assert_eq!(reply.status, 400, "{next:?}: {}", reply.text);
        assert!(reply.text.contains("leads away from Liaison"), "{next:?}");
        assert!(
            client.cookie("liaison_session").is_none(),
            "{next:?}: no session opened"
        );
        assert!(client.cookie("planted").is_none());
    }
    let client = gateway.client();
    let reply = login_form(&client, "/organisations?q=a").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.headers["location"], "/organisations?q=a");
    assert!(client.cookie("liaison_session").is_some());

    // The form shown for an outside `next` carries the home page instead.
    let page = gateway
        .client()
        .get("/login?next=%2F%09%2Fevil.example%2F")
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        HttpClient::hidden_field(&page.text, "next").as_deref(),
        Some("/")
    );
}

/// A client seen through the trusted proxy at 127.0.0.1 as `address`.
fn from_address(gateway: &Gateway, address: &str) -> HttpClient {
    let client = gateway.client();
    client.set_header("x-forwarded-for", address);
    client
}

const BEHIND_A_PROXY: (&str, &str) = ("LIAISON__HTTP__TRUSTED_PROXIES", "127.0.0.1");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_are_counted_before_any_is_checked() {
    let gateway =
        Gateway::start_with(&[("LIAISON__SERVICES__GATEWAY__AUTH__LOGIN_FREE_FAILURES", "5")])
            .await;
    let guesser = std::sync::Arc::new(gateway.client());
    let guesses: Vec<_> = (0..60)
        .map(|n| {
            let guesser = guesser.clone();
            tokio::spawn(async move { guesser.login(ADMIN, &format!("guess {n}")).await.status })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for guess in guesses {
        *statuses
            .entry(guess.await.expect("joined").as_u16())
            .or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        std::collections::BTreeMap::from([(401, 5), (429, 55)]),
        "only the free attempts reach a password check"
    );
    let waiting = guesser.login(ADMIN, PASSWORD).await;
    assert_eq!(waiting.status, 429);
    let seconds: u64 = waiting.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (1..=2).contains(&seconds),
        "the first delay is a second: {seconds}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_guessing_from_many_addresses_do_not_lock_out_the_owners_known_device() {
    let gateway = Gateway::start_with(&[
        BEHIND_A_PROXY,
        ("LIAISON__SERVICES__GATEWAY__AUTH__LOGIN_FREE_FAILURES", "2"),
        (
            "LIAISON__SERVICES__GATEWAY__AUTH__LOGIN_FAILURES_PER_ACCOUNT",
            "4",
        ),
    ])
    .await;
    let owner = from_address(&gateway, "198.51.100.7");
    assert_eq!(owner.login(ADMIN, PASSWORD).await.status, 201);
    let device = owner
        .cookie("liaison_device")
        .expect("a known-device token");
    let out = owner.delete("/api/session").await;
    assert_eq!(out.status, 204, "{}", out.text);

    for stranger in 1..=6 {
        let client = from_address(&gateway, &format!("203.0.113.{stranger}"));
        let _ = client.login(ADMIN, "a guess").await;
    }
    let new_device = from_address(&gateway, "198.51.100.7");
    assert_refused(
        &new_device.login(ADMIN, PASSWORD).await,
        429,
        "rate_limited",
    );

    let known = from_address(&gateway, "198.51.100.7");
    known.set_cookie("liaison_device", &device);
    let reply = known.login(ADMIN, PASSWORD).await;
    assert_eq!(reply.status, 201, "{}", reply.text);

    // A token forged or made for another account is no known device.
    let forged = from_address(&gateway, "198.51.100.7");
    forged.set_cookie("liaison_device", &format!("x{device}"));
    assert_refused(&forged.login(ADMIN, PASSWORD).await, 429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
    let settings = [("LIAISON__SERVICES__GATEWAY__AUTH__LOGIN_FREE_FAILURES", "2")];
    // Not trusted: every client is 127.0.0.1, whatever it writes.
    let direct = Gateway::start_with(&settings).await;
    for _ in 0..2 {
        let _ = from_address(&direct, "203.0.113.1")
            .login(ADMIN, "guess")
            .await;
    }
    assert_refused(
        &from_address(&direct, "203.0.113.2")
            .login(ADMIN, PASSWORD)
            .await,
        429,
        "rate_limited",
    );
    // Behind the trusted proxy: the forwarded address is the client's.
    let proxied = Gateway::start_with(&[settings[0], BEHIND_A_PROXY]).await;
    for _ in 0..2 {
        let _ = from_address(&proxied, "203.0.113.1")
            .login(ADMIN, "guess")
            .await;
    }
    assert_refused(
        &from_address(&proxied, "203.0.113.1")
            .login(ADMIN, PASSWORD)
            .await,
        429,
        "rate_limited",
    );
    assert_eq!(
        from_address(&proxied, "203.0.113.2")
            .login(ADMIN, PASSWORD)
            .await
            .status,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_logins_is_answered_at_once_past_the_password_pool() {
    let gateway = Gateway::start_with(&[
        BEHIND_A_PROXY,
        ("LIAISON__SERVICES__GATEWAY__AUTH__PASSWORD_CHECKS", "1"),
        (
            "LIAISON__SERVICES__GATEWAY__AUTH__PASSWORD_CHECK_QUEUE",
            "3",
        ),
    ])
    .await;
    let logins: Vec<_> = (0..100)
        .map(|n| {
            let client = from_address(&gateway, &format!("10.7.{}.{}", n / 250, n % 250));
            tokio::spawn(async move {
                let reply = client
                    .login(&format!("nobody{n}@example.org"), "a guess")
                    .await;
                (
                    reply.status.as_u16(),
                    reply.headers.contains_key("retry-after"),
                )
            })
        })
        .collect();
    let mut checked = 0;
    let mut busy = 0;
    for login in logins {
        match login.await.expect("joined") {
            (401, _) => checked += 1,
            (503, true) => busy += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(busy > 50, "{busy} told to retry, {checked} checked");
    assert!(
        checked >= 4,
        "the pool and its queue still served: {checked}"
    );
}

fn assert_security_headers(reply: &liaison_tests::http::Reply, path: &str) {
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let policy = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(
            policy.contains(directive),
            "{path}: {policy:?} lacks {directive}"
        );
    }
    assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
    assert_eq!(header("x-frame-options"), "DENY", "{path}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(header("referrer-policy"), "same-origin", "{path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_personal_data_is_not_cached() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let anonymous = gateway.client();
    let answers = [
        ("/login", anonymous.get("/login").await),
        ("/api/persons (401)", anonymous.get("/api/persons").await),
        ("/healthz", anonymous.get("/healthz").await),
        ("/nowhere (404)", anonymous.get("/nowhere").await),
        ("/ (303)", anonymous.get("/").await),
        ("/api/persons", admin.get("/api/persons").await),
        ("/contacts", admin.get("/contacts").await),
        ("/api/session", admin.get("/api/session").await),
        ("/api/docs", anonymous.get("/api/docs").await),
    ];
    for (path, reply) in &answers {
        assert_security_headers(reply, path);
        assert_eq!(reply.headers["cache-control"], "no-store", "{path}");
        assert!(
            !reply.headers.contains_key("strict-transport-security"),
            "{path}: plain HTTP"
        );
    }
    let stylesheet = anonymous.get("/assets/app.css").await;
    assert_security_headers(&stylesheet, "/assets/app.css");
    assert_eq!(stylesheet.headers["cache-control"], "public, max-age=3600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_hold_no_inline_script_or_style_for_the_policy_to_block() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let id = liaison_tests::gateway::organisation(&admin, "Inline Check").await;
    let pages = [
        "/login".to_owned(),
        "/".to_owned(),
        "/organisations".to_owned(),
        format!("/contacts/{id}"),
        format!("/contacts/{id}/edit"),
        "/relation-types".to_owned(),
        "/users".to_owned(),
        "/account".to_owned(),
        "/api/docs".to_owned(),
    ];
    for path in pages {
        let page = admin.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        let html = page.text.to_lowercase();
        for (needle, what) in [
            ("<script>", "inline script"),
            ("<style", "inline style element"),
            (" style=", "style attribute"),
            ("javascript:", "script URL"),
            (" onclick=", "event handler attribute"),
            (" onsubmit=", "event handler attribute"),
            (" onload=", "event handler attribute"),
        ] {
            assert!(!html.contains(needle), "{path} has an {what}");
        }
        for script in html.match_indices("<script").map(|(at, _)| &html[at..]) {
            assert!(
                script.starts_with("<script src=\"/assets/"),
                "{path}: {}",
                &script[..60.min(script.len())]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_is_announced_when_configured_or_said_by_a_trusted_proxy() {
    let proxied = Gateway::start_with(&[BEHIND_A_PROXY]).await;
    let client = proxied.client();
    client.set_header("x-forwarded-proto", "https");
    assert_eq!(
        client.get("/login").await.headers["strict-transport-security"],
        "max-age=31536000"
    );
    let direct = Gateway::start().await;
    let forged = direct.client();
    forged.set_header("x-forwarded-proto", "https");
    assert!(
        !forged
            .get("/login")
            .await
            .headers
            .contains_key("strict-transport-security"),
        "not from a trusted proxy"
    );
    let configured = Gateway::start_with(&[("LIAISON__HTTP__HSTS", "true")]).await;
    assert!(configured
        .client()
        .get("/healthz")
        .await
        .headers
        .contains_key("strict-transport-security"));
}

/// A person at every field limit, written in 4-byte characters: about
/// 300 KB stored.
fn person_at_every_limit(n: usize) -> serde_json::Value {
    let wide = |chars: usize| "𝄞".repeat(chars);
    let addresses: Vec<_> = (0..50)
        .map(|_| {
            serde_json::json!({
                "label": wide(50), "street": wide(400), "postal_code": "75001",
                "city": wide(200), "region": wide(200), "country": "FR"
            })
        })
        .collect();
    let refs: Vec<_> = (0..50)
        .map(|r| serde_json::json!({"source": format!("{n}-{r}-{}", wide(190)), "external_id": wide(200)}))
        .collect();
    let tags: Vec<_> = (0..50).map(|t| format!("{t:02}{}", wide(62))).collect();
    serde_json::json!({
        "title": wide(200), "given_name": format!("{n:02}{}", wide(198)),
        "family_name": wide(200), "job_title": wide(200), "owner": wide(200),
        "notes": wide(10_000), "addresses": addresses, "external_refs": refs, "tags": tags
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_record_can_make_a_page_fail() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let count = 16;
    for n in 0..count {
        let created = admin.post("/api/persons", person_at_every_limit(n)).await;
        assert_eq!(created.status, 201, "{}", created.error_message());
    }
    let mut seen = 0;
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let page = admin
            .get(&format!("/api/persons?limit=500&cursor={cursor}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.error_message());
        let items = page.json["items"].as_array().expect("items").len();
        assert!(items >= 1 && items < count, "{items} persons on one page");
        seen += items;
        pages += 1;
        cursor = page.json["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen, count, "every person once, over {pages} pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_history_can_make_its_page_fail() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let created = admin.post("/api/persons", person_at_every_limit(0)).await;
    assert_eq!(created.status, 201, "{}", created.error_message());
    let id = created.json["id"].as_str().expect("id").to_owned();
    // Each change rewrites every address and the notes in other 4-byte
    // characters: its history entry holds about 400 KB of old and new
    // values, so the whole history is past the 4 MiB a message may carry.
    let changes = 14;
    for n in 0..changes {
        let wide = |chars: usize| {
            char::from_u32(0x1F600 + n)
                .expect("emoji")
                .to_string()
                .repeat(chars)
        };
        let addresses: Vec<_> = (0..50)
            .map(|_| serde_json::json!({"label": wide(50), "street": wide(400), "city": wide(200), "country": "FR"}))
            .collect();
        let changed = admin
            .patch(
                &format!("/api/persons/{id}"),
                serde_json::json!({"addresses": addresses, "notes": wide(10_000)}),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.error_message());
    }
    let (mut seen, mut pages, mut cursor) = (0, 0, String::new());
    loop {
        let page = admin
            .get(&format!(
                "/api/contacts/{id}/history?limit=500&cursor={cursor}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.error_message());
        let items = page.json["items"].as_array().expect("items").len();
        assert!(items >= 1, "a page holds at least one entry");
        seen += items;
        pages += 1;
        cursor = page.json["next_cursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen, changes as usize + 1, "every entry once");
    assert!(pages > 1, "the history was cut by bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_of_more_tags_than_a_contact_holds_is_refused_clearly() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let tags: Vec<String> = (0..600).map(|n| format!("t{n}")).collect();
    let refused = admin
        .get(&format!("/api/persons?tags={}", tags.join(",")))
        .await;
    assert_refused(&refused, 400, "invalid_argument");
    assert!(
        refused.error_message().contains("at most 50 tags"),
        "{}",
        refused.error_message()
    );
    let fifty = admin
        .get(&format!("/api/persons?tags={}", tags[..50].join(",")))
        .await;
    assert_eq!(fifty.status, 200, "{}", fifty.error_message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_bad_value_is_not_echoed_whole() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let id = "x".repeat(1_000_000);
    let refused = admin
        .post(
            "/api/persons",
            serde_json::json!({"family_name": "Lovelace", "category_id": id}),
        )
        .await;
    assert_eq!(
        refused.status,
        400,
        "{}",
        &refused.text[..200.min(refused.text.len())]
    );
    assert!(refused.text.len() < 2_000, "{} bytes", refused.text.len());
    assert!(
        refused.error_message().contains("bytes left out"),
        "{}",
        refused.error_message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroying_is_a_permission_admins_hold_and_grant() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let staff = gateway.user(&admin, "staff@example.org", "staff").await;
    let staff_id = staff.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let person = staff
        .post(
            "/api/persons",
            serde_json::json!({"family_name": "Lovelace"}),
        )
        .await;
    let person_id = person.json["id"].as_str().expect("person id").to_owned();
    let trashed = liaison_tests::gateway::organisation(&staff, "Gone Ltd").await;
    let trash = staff
        .post(
            &format!("/api/contacts/{trashed}/trash"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(trash.status, 200, "{}", trash.text);

    // Staff without the permission: refused, and told who grants it.
    let erase = staff
        .post(
            &format!("/api/persons/{person_id}/erase"),
            serde_json::json!({"reason": "asked"}),
        )
        .await;
    assert_refused(&erase, 403, "permission_denied");
    assert!(
        erase
            .error_message()
            .contains("admins hold it and grant it"),
        "{}",
        erase.text
    );
    assert_refused(
        &staff.delete(&format!("/api/contacts/{trashed}")).await,
        403,
        "permission_denied",
    );
    assert_refused(
        &staff
            .delete("/api/relation-types/nothing_like_it?cascade=true")
            .await,
        403,
        "permission_denied",
    );
    assert_refused(
        &staff.delete("/api/relation-types/nothing_like_it").await,
        404,
        "not_found",
    );
    // The page offers no button, and its form is refused.
    let page = staff.get(&format!("/contacts/{trashed}")).await;
    assert!(page.text.contains("Restore") && !page.text.contains("Delete for good"));
    let csrf = HttpClient::hidden_field(&page.text, "csrf").expect("csrf");
    let version = HttpClient::hidden_field(&page.text, "version").expect("version");
    let purge = staff
        .post_form(
            &format!("/contacts/{trashed}/delete"),
            &[("csrf", &csrf), ("version", &version)],
        )
        .await;
    assert_eq!(purge.status, 403);

    // Bad grants are refused by name.
    let user_path = format!("/api/users/{staff_id}");
    let unknown = admin
        .patch(&user_path, serde_json::json!({"permissions": ["fly"]}))
        .await;
    assert_refused(&unknown, 400, "invalid_argument");
    assert_eq!(unknown.error_field(), "permissions");
    let customer = gateway
        .user(&admin, "customer@example.org", "customer")
        .await;
    let customer_id = customer.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_refused(
        &admin
            .patch(
                &format!("/api/users/{customer_id}"),
                serde_json::json!({"permissions": ["destroy"]}),
            )
            .await,
        400,
        "invalid_argument",
    );
    // Staff cannot grant it to themselves.
    assert_refused(
        &staff
            .patch(&user_path, serde_json::json!({"permissions": ["destroy"]}))
            .await,
        403,
        "permission_denied",
    );

    // Granted: the same session may now.
    let granted = admin
        .patch(&user_path, serde_json::json!({"permissions": ["destroy"]}))
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(granted.json["permissions"], serde_json::json!(["destroy"]));
    assert!(staff
        .get(&format!("/contacts/{trashed}"))
        .await
        .text
        .contains("Delete for good"));
    assert_eq!(
        staff
            .delete(&format!("/api/contacts/{trashed}"))
            .await
            .status,
        204
    );
    let erased = staff
        .post(
            &format!("/api/persons/{person_id}/erase"),
            serde_json::json!({"reason": "asked"}),
        )
        .await;
    assert_eq!(erased.status, 204, "{}", erased.text);
    assert_refused(
        &staff
            .delete("/api/relation-types/nothing_like_it?cascade=true")
            .await,
        404,
        "not_found",
    );
    // Taken back.
    let revoked = admin
        .patch(&user_path, serde_json::json!({"permissions": []}))
        .await;
    assert_eq!(revoked.json["permissions"], serde_json::json!([]));
    assert_refused(
        &staff
            .delete("/api/relation-types/nothing_like_it?cascade=true")
            .await,
        403,
        "permission_denied",
    );
}
