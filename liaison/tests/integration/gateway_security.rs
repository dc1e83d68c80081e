//! The gateway as a hostile client meets it: redirects after login,
//! login limits, parallel logins, headers, large and malformed input.

use liaison_tests::gateway::{ADMIN, PASSWORD};
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
