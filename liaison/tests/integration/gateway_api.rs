//! The gateway's REST API in-process (the binary's own wiring, in this
//! process, on SQLite): authentication, roles, CSRF, sessions, API tokens,
//! login limits, users, every endpoint family, bad input and the OpenAPI
//! document.

use liaison_tests::gateway::{assert_refused, ADMIN, PASSWORD};
use liaison_tests::http::HttpClient;
use serde_json::json;

use crate::support::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_logs_in_and_anonymous_callers_are_refused() {
    let gateway = Gateway::start().await;
    let anonymous = gateway.client();
    assert_refused(&anonymous.get("/api/persons").await, 401, "unauthenticated");
    assert_refused(&anonymous.get("/api/session").await, 401, "unauthenticated");
    let wrong = anonymous.login(ADMIN, "not the password").await;
    assert_refused(&wrong, 401, "unauthenticated");
    assert_eq!(wrong.error_message(), "wrong email or password");
    let unknown = anonymous.login("nobody@example.org", PASSWORD).await;
    assert_eq!(unknown.error_message(), "wrong email or password");

    let admin = gateway.client();
    let reply = admin.login(ADMIN, PASSWORD).await;
    assert_eq!(reply.status, 201);
    let cookie = reply.headers["set-cookie"].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert_eq!(reply.json["user"]["role"], "admin");
    assert!(reply.json["user"].get("password_hash").is_none());
    let me = admin.get("/api/session").await;
    assert_eq!(me.json["user"]["email"], ADMIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_what_it_may_and_nothing_more() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let staff = gateway.user(&admin, "staff@example.org", "staff").await;
    let customer = gateway
        .user(&admin, "customer@example.org", "customer")
        .await;
    let anonymous = gateway.client();

    for path in [
        "/api/persons",
        "/api/organisations",
        "/api/relation-types",
        "/api/categories",
    ] {
        assert_eq!(admin.get(path).await.status, 200, "admin {path}");
        assert_eq!(staff.get(path).await.status, 200, "staff {path}");
        assert_refused(&customer.get(path).await, 403, "permission_denied");
        assert_refused(&anonymous.get(path).await, 401, "unauthenticated");
    }
    assert_refused(
        &customer
            .post("/api/organisations", json!({"name": "X"}))
            .await,
        403,
        "permission_denied",
    );
    assert_eq!(admin.get("/api/users").await.status, 200);
    assert_refused(&staff.get("/api/users").await, 403, "permission_denied");
    assert_refused(&customer.get("/api/users").await, 403, "permission_denied");
    assert_refused(
        &staff
            .post(
                "/api/users",
                json!({"email": "x@example.org", "display_name": "X", "role": "admin", "password": PASSWORD}),
            )
            .await,
        403,
        "permission_denied",
    );
    // Everyone may see themselves and manage their own tokens.
    assert_eq!(
        customer.get("/api/session").await.json["user"]["role"],
        "customer"
    );
    assert_eq!(customer.get("/api/tokens").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_with_a_cookie_need_the_csrf_token() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let token = admin.get("/api/session").await.json["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();

    admin.set_csrf(None);
    let missing = admin.post("/api/organisations", json!({"name": "A"})).await;
    assert_refused(&missing, 403, "permission_denied");
    assert!(missing.error_message().contains("CSRF"));
    admin.set_csrf(Some("forged-token"));
    assert_refused(
        &admin.post("/api/organisations", json!({"name": "A"})).await,
        403,
        "permission_denied",
    );
    admin.set_csrf(Some(&token));
    assert_eq!(
        admin
            .post("/api/organisations", json!({"name": "A"}))
            .await
            .status,
        201
    );
    // Nothing was stored by the refused attempts.
    assert_eq!(admin.get("/api/organisations").await.json["total"], 1);
    // Reads need no token.
    admin.set_csrf(None);
    assert_eq!(admin.get("/api/organisations").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_id_planted_before_login_is_worthless() {
    let gateway = Gateway::start().await;
    let victim = gateway.client();
    victim.set_cookie("liaison_session", "attacker-chosen-value");
    assert_refused(&victim.get("/api/session").await, 401, "unauthenticated");
    let reply = victim.login(ADMIN, PASSWORD).await;
    assert_eq!(reply.status, 201);
    let issued = victim.cookie("liaison_session").expect("session cookie");
    assert_ne!(issued, "attacker-chosen-value");
    let attacker = gateway.client();
    attacker.set_cookie("liaison_session", "attacker-chosen-value");
    assert_refused(&attacker.get("/api/session").await, 401, "unauthenticated");

    // After logout, the stolen cookie is worth nothing either.
    let thief = gateway.client();
    thief.set_cookie("liaison_session", &issued);
    assert_eq!(thief.get("/api/session").await.status, 200);
    assert_eq!(victim.delete("/api/session").await.status, 204);
    assert!(victim.cookie("liaison_session").is_none(), "cookie cleared");
    assert_refused(&thief.get("/api/session").await, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_created_used_listed_and_revoked() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let created = admin
        .post(
            "/api/tokens",
            json!({"name": "import script", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.json["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("lia_"));
    let id = created.json["token"]["id"].as_str().expect("id").to_owned();

    let bearer = HttpClient::with_bearer(&gateway.liaison.http_addr, &secret);
    assert_eq!(bearer.get("/api/persons").await.status, 200);
    // No CSRF token needed: a browser never sends this header by itself.
    assert_eq!(
        bearer
            .post("/api/organisations", json!({"name": "B"}))
            .await
            .status,
        201
    );

    let listed = admin.get("/api/tokens").await;
    let tokens = listed.json.as_array().expect("list");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["name"], "import script");
    assert!(secret.starts_with(tokens[0]["prefix"].as_str().expect("prefix")));
    assert!(
        !listed.text.contains(&secret),
        "the secret is shown once only"
    );

    assert_refused(
        &admin.post("/api/tokens", json!({"name": ""})).await,
        400,
        "invalid_argument",
    );
    assert_refused(
        &admin
            .post("/api/tokens", json!({"name": "x", "expires_in_days": 0}))
            .await,
        400,
        "invalid_argument",
    );
    assert_eq!(admin.delete(&format!("/api/tokens/{id}")).await.status, 204);
    assert_refused(&bearer.get("/api/persons").await, 401, "unauthenticated");
    assert_refused(&admin.delete("/api/tokens/unknown").await, 404, "not_found");
    let forged = HttpClient::with_bearer(&gateway.liaison.http_addr, "lia_forged");
    assert_refused(&forged.get("/api/persons").await, 401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_users_and_their_changes_end_sessions() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let staff = gateway.user(&admin, "staff@example.org", "staff").await;
    let id = staff.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_refused(
        &admin
            .post(
                "/api/users",
                json!({"email": "STAFF@example.org", "display_name": "Again", "role": "staff", "password": PASSWORD}),
            )
            .await,
        409,
        "already_exists",
    );
    let short = admin
        .post(
            "/api/users",
            json!({"email": "new@example.org", "display_name": "New", "role": "staff", "password": "short"}),
        )
        .await;
    assert_refused(&short, 400, "invalid_argument");
    assert_eq!(short.error_field(), "password");
    assert_refused(
        &admin
            .post(
                "/api/users",
                json!({"email": "new@example.org", "display_name": "New", "role": "boss", "password": PASSWORD}),
            )
            .await,
        400,
        "invalid_argument",
    );

    let renamed = admin
        .patch(&format!("/api/users/{id}"), json!({"display_name": "Sam"}))
        .await;
    assert_eq!(renamed.json["display_name"], "Sam");
    assert_eq!(
        staff.get("/api/session").await.status,
        200,
        "a rename keeps sessions"
    );
    let stale = admin
        .patch(
            &format!("/api/users/{id}"),
            json!({"role": "customer", "expected_version": 1}),
        )
        .await;
    assert_refused(&stale, 409, "aborted");
    let disabled = admin
        .patch(&format!("/api/users/{id}"), json!({"disabled": true}))
        .await;
    assert_eq!(disabled.json["disabled"], true, "{}", disabled.text);
    assert_refused(&staff.get("/api/session").await, 401, "unauthenticated");
    let refused = gateway.client().login("staff@example.org", PASSWORD).await;
    assert_refused(&refused, 403, "permission_denied");
    assert!(refused.error_message().contains("disabled"));

    let admin_id = admin.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_refused(
        &admin
            .patch(&format!("/api/users/{admin_id}"), json!({"disabled": true}))
            .await,
        412,
        "failed_precondition",
    );
    let demoted = admin
        .patch(&format!("/api/users/{admin_id}"), json!({"role": "staff"}))
        .await;
    assert_refused(&demoted, 412, "failed_precondition");
    assert!(demoted.error_message().contains("no enabled admin"));
    assert_refused(&admin.get("/api/users/nope").await, 404, "not_found");

    // Own password: the current one is checked, then every session ends.
    let wrong = admin
        .put(
            "/api/session/password",
            json!({"current_password": "nope", "new_password": "a brand new secret"}),
        )
        .await;
    assert_refused(&wrong, 400, "invalid_argument");
    assert_eq!(
        admin
            .put(
                "/api/session/password",
                json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
            )
            .await
            .status,
        204
    );
    assert_refused(&admin.get("/api/session").await, 401, "unauthenticated");
    assert_eq!(
        gateway
            .client()
            .login(ADMIN, "a brand new secret")
            .await
            .status,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_created_found_changed_trashed_merged_and_purged() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let category = admin
        .post(
            "/api/categories",
            json!({"name": "Alumni", "description": "former students"}),
        )
        .await;
    assert_eq!(category.status, 201, "{}", category.text);
    let category_id = category.json["id"].as_str().expect("id").to_owned();
    let renamed = admin
        .patch(
            &format!("/api/categories/{category_id}"),
            json!({"name": "Alumni (all years)"}),
        )
        .await;
    assert_eq!(renamed.json["name"], "Alumni (all years)");

    let ada = admin
        .post(
            "/api/persons",
            json!({"given_name": "Ada", "family_name": "Lovelace", "tags": ["vip"],
                   "category_id": category_id,
                   "emails": [{"address": "ada@example.org", "primary": true}]}),
        )
        .await;
    assert_eq!(ada.status, 201, "{}", ada.text);
    let ada_id = ada.json["id"].as_str().expect("id").to_owned();
    let twin = admin
        .post("/api/persons", json!({"given_name": "Ada", "family_name": "L.", "emails": [{"address": "ada.l@example.org"}]}))
        .await;
    let twin_id = twin.json["id"].as_str().expect("id").to_owned();

    let found = admin.get("/api/persons?q=lovelace").await;
    assert_eq!(found.json["total"], 1, "{}", found.text);
    let tagged = admin
        .get(&format!("/api/persons?tags=vip&category={category_id}"))
        .await;
    assert_eq!(tagged.json["total"], 1);
    let paged = admin
        .get("/api/persons?limit=1&sort=created_at&descending=true")
        .await;
    assert_eq!(paged.json["items"][0]["family_name"], "L.");
    let cursor = paged.json["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let next = admin
        .get(&format!(
            "/api/persons?limit=1&sort=created_at&descending=true&cursor={cursor}"
        ))
        .await;
    assert_eq!(
        next.json["items"][0]["family_name"], "Lovelace",
        "{}",
        next.text
    );
    assert_eq!(
        admin.get(&format!("/api/persons/{ada_id}")).await.json["given_name"],
        "Ada"
    );
    let by_email = admin.get("/api/contacts?email=ADA@example.org").await;
    assert_eq!(by_email.json[0]["kind"], "person", "{}", by_email.text);

    let changed = admin
        .patch(
            &format!("/api/persons/{ada_id}"),
            json!({"job_title": "Analyst", "expected_version": 1}),
        )
        .await;
    assert_eq!(changed.json["job_title"], "Analyst", "{}", changed.text);
    assert_refused(
        &admin
            .patch(
                &format!("/api/persons/{ada_id}"),
                json!({"job_title": "x", "expected_version": 1}),
            )
            .await,
        409,
        "aborted",
    );
    let history = admin.get(&format!("/api/contacts/{ada_id}/history")).await;
    assert!(
        history.json["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 2),
        "{}",
        history.text
    );

    let merged = admin
        .post(
            &format!("/api/contacts/{ada_id}/merge"),
            json!({"merged_id": twin_id}),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.json["emails"].as_array().map(Vec::len), Some(2));

    assert_refused(
        &admin.delete(&format!("/api/contacts/{ada_id}")).await,
        412,
        "failed_precondition",
    );
    assert_eq!(
        admin
            .post(&format!("/api/contacts/{ada_id}/trash"), json!({}))
            .await
            .json["in_trash"],
        true
    );
    assert_eq!(admin.get("/api/persons?trash=only").await.json["total"], 1);
    assert_eq!(
        admin
            .post(&format!("/api/contacts/{ada_id}/restore"), json!({}))
            .await
            .json["in_trash"],
        false
    );
    admin
        .post(&format!("/api/contacts/{ada_id}/trash"), json!({}))
        .await;
    assert_eq!(
        admin
            .delete(&format!("/api/contacts/{ada_id}"))
            .await
            .status,
        204
    );
    assert_refused(
        &admin.get(&format!("/api/persons/{ada_id}")).await,
        404,
        "not_found",
    );

    let bob = admin
        .post(
            "/api/persons",
            json!({"given_name": "Bob", "family_name": "Smith"}),
        )
        .await;
    let bob_id = bob.json["id"].as_str().expect("id");
    assert_eq!(
        admin
            .post(
                &format!("/api/persons/{bob_id}/erase"),
                json!({"reason": "gdpr request 12"})
            )
            .await
            .status,
        204
    );
    assert_eq!(
        admin.get(&format!("/api/persons/{bob_id}")).await.json["erased"],
        true
    );

    let org = admin
        .post(
            "/api/organisations",
            json!({"name": "Ours", "managed": true}),
        )
        .await;
    let org_id = org.json["id"].as_str().expect("id");
    assert_eq!(
        admin.get("/api/organisations?managed=true").await.json["total"],
        1
    );
    let renamed = admin
        .patch(
            &format!("/api/organisations/{org_id}"),
            json!({"name": "Ours Inc"}),
        )
        .await;
    assert_eq!(renamed.json["name"], "Ours Inc");
    assert_eq!(
        admin.get(&format!("/api/contacts/{org_id}")).await.json["kind"],
        "organisation"
    );
    assert_eq!(
        admin
            .delete(&format!("/api/categories/{category_id}"))
            .await
            .status,
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let malformed = admin
        .post_raw("/api/persons", "application/json", "{\"given_name\": ")
        .await;
    assert_refused(&malformed, 400, "invalid_argument");
    let typo = admin
        .post("/api/persons", json!({"given_nme": "Ada"}))
        .await;
    assert_refused(&typo, 400, "invalid_argument");
    assert!(typo.error_message().contains("given_nme"), "{}", typo.text);
    let email = admin
        .post(
            "/api/persons",
            json!({"given_name": "Ada", "emails": [{"address": "not-an-email"}]}),
        )
        .await;
    assert_refused(&email, 400, "invalid_argument");
    assert_eq!(email.error_field(), "emails[0].address", "{}", email.text);
    let long = admin
        .post("/api/organisations", json!({"name": "x".repeat(100_000)}))
        .await;
    assert_refused(&long, 400, "invalid_argument");
    assert_eq!(admin.get("/api/persons").await.json["total"], 0);
    assert_eq!(admin.get("/api/organisations").await.json["total"], 0);

    assert_refused(
        &admin.get("/api/persons?limit=many").await,
        400,
        "invalid_argument",
    );
    assert_refused(
        &admin.get("/api/persons?cursor=garbage").await,
        400,
        "invalid_argument",
    );
    assert_refused(
        &admin.get("/api/persons?updated_since=yesterday").await,
        400,
        "invalid_argument",
    );
    let pattern = admin.get("/api/triples?subject=no-kind").await;
    assert_refused(&pattern, 400, "invalid_argument");
    assert_eq!(pattern.error_field(), "subject");
    assert_refused(&admin.get("/api/contacts").await, 400, "invalid_argument");
    assert_refused(&admin.get("/api/nowhere").await, 404, "not_found");

    // Markup is data: stored and returned as typed, never interpreted here.
    let script = "<script>alert(1)</script>";
    let created = admin
        .post("/api/organisations", json!({"name": script}))
        .await;
    assert_eq!(created.json["name"], script);
    assert!(created.headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    let document = client.get("/api/openapi.json").await;
    assert_eq!(document.status, 200);
    assert!(document.json["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = document.json["paths"].as_object().expect("paths");
    for path in [
        "/api/persons",
        "/api/persons/{id}",
        "/api/organisations",
        "/api/contacts/{id}/merge",
        "/api/categories",
        "/api/relation-types",
        "/api/relations",
        "/api/triples",
        "/api/paths",
        "/api/entities/{kind}/{id}/relations",
        "/api/session",
        "/api/tokens",
        "/api/users",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    let operations: usize = paths
        .values()
        .map(|item| item.as_object().map(|o| o.len()).unwrap_or(0))
        .sum();
    assert!(operations >= 45, "{operations} operations");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
        }
    }
    let page = client.get("/api/docs").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("/api/entities/{kind}/{id}/relations"));
}
