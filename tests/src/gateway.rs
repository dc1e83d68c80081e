//! What the gateway's tests share, whichever process serves it: the first
//! admin and users of each role logged in, refusals checked, organisations
//! made through the API.

use serde_json::{json, Value};

use crate::http::{HttpClient, Reply};

/// The first admin every test gateway is started with.
pub const ADMIN: &str = "admin@localhost";
/// Every test user's password, the first admin's too.
pub const PASSWORD: &str = "correct horse battery";

/// A client of the gateway at `http_addr`, logged in as `email`.
pub async fn logged_in(http_addr: &str, email: &str) -> HttpClient {
    let client = HttpClient::new(http_addr);
    let reply = client.login(email, PASSWORD).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    client
}

/// A new user of `role` made by `admin`, logged in.
pub async fn new_user(http_addr: &str, admin: &HttpClient, email: &str, role: &str) -> HttpClient {
    let created = admin
        .post(
            "/api/users",
            json!({"email": email, "display_name": email, "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    logged_in(http_addr, email).await
}

/// The reply is a refusal with this status and code, and says why.
pub fn assert_refused(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    assert_eq!(reply.error_code(), code, "{}", reply.text);
    assert!(!reply.error_message().is_empty(), "{}", reply.text);
}

/// A new organisation named `name`; its id.
pub async fn organisation(client: &HttpClient, name: &str) -> String {
    let reply = client
        .post("/api/organisations", json!({"name": name}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["id"].as_str().expect("id").to_owned()
}

/// The API's reference to organisation `id`.
pub fn org(id: &str) -> Value {
    json!({"kind": "contacts.organisation", "id": id})
}
