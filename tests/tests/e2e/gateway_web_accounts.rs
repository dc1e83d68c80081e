//! The web UI's account pages over HTTP: users for admins, and one's own
//! account (API tokens, password).

use liaison_tests::http::HttpClient;

use crate::common::web::*;

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
