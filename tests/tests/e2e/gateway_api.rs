//! The gateway's REST API through the real binary: the market scenario
//! end to end, signed identities between processes, and users made by the
//! CLI with the accounts rebuilt from the log. The API's rules (roles,
//! CSRF, sessions, tokens, login limits, bad input, the OpenAPI document)
//! are tested in-process, in the `liaison` crate.

use liaison_tests::gateway::{
    assert_refused, logged_in, new_user, org, organisation, ADMIN, PASSWORD,
};
use liaison_tests::http::HttpClient;
use liaison_tests::{Liaison, Topology};
use serde_json::json;

struct Gateway {
    liaison: Liaison,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start() -> Gateway {
        Self::start_with(vec![]).await
    }

    async fn start_with(mut env: Vec<(String, String)>) -> Gateway {
        env.push(("LIAISON__AUTH__ADMIN_PASSWORD".into(), PASSWORD.into()));
        let dir = tempfile::tempdir().expect("dir");
        let liaison = Liaison::start_with(
            &dir.path().join("data"),
            &Topology {
                env,
                ..Topology::default()
            },
        )
        .await
        .expect("liaison serves");
        Gateway { liaison, _dir: dir }
    }

    fn client(&self) -> HttpClient {
        HttpClient::new(&self.liaison.http_addr)
    }

    async fn admin(&self) -> HttpClient {
        logged_in(&self.liaison.http_addr, ADMIN).await
    }

    async fn user(&self, admin: &HttpClient, email: &str, role: &str) -> HttpClient {
        new_user(&self.liaison.http_addr, admin, email, role).await
    }
}

#[tokio::test]
async fn the_market_scenario_is_recorded_and_read_through_rest() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let a = organisation(&admin, "A").await;
    let b = organisation(&admin, "B").await;
    let c = organisation(&admin, "C").await;
    let d = organisation(&admin, "D").await;

    let custom = admin
        .post(
            "/api/relation-types",
            json!({
                "subject_side": {"id": "is_prospect_of", "label": "is a prospect of", "kinds": ["contacts.organisation"]},
                "object_side": {"id": "has_prospect_org", "label": "has prospect", "kinds": ["contacts.organisation"]}
            }),
        )
        .await;
    assert_eq!(custom.status, 201, "{}", custom.text);
    assert_eq!(custom.json["custom"], true);

    for (subject, predicate, object) in [
        (&b, "customer_of", &a),
        (&c, "is_prospect_of", &a),
        (&d, "competitor_of", &a),
        (&c, "is_prospect_of", &d),
    ] {
        let reply = admin
            .post(
                "/api/relations",
                json!({"subject": org(subject), "predicate": predicate, "object": org(object)}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let who = admin
        .get(&format!(
            "/api/triples?predicate=has_prospect_org&object=contacts.organisation:{c}"
        ))
        .await;
    let mut labels: Vec<&str> = who.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["subject_label"].as_str())
        .collect();
    labels.sort();
    assert_eq!(labels, ["A", "D"], "{}", who.text);

    let of_d = admin
        .get(&format!(
            "/api/entities/contacts.organisation/{d}/relations"
        ))
        .await;
    let mut seen: Vec<String> = of_d.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["predicate_label"].as_str().unwrap_or_default(),
                r["other_label"].as_str().unwrap_or_default()
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["has prospect C", "is a competitor of A"]);
    assert_eq!(of_d.json["total"], 2);

    let counts = admin
        .get(&format!(
            "/api/entities/contacts.organisation/{a}/predicate-counts"
        ))
        .await;
    assert_eq!(
        counts.json.as_array().map(Vec::len),
        Some(3),
        "{}",
        counts.text
    );
    let paths = admin
        .get(&format!(
            "/api/paths?start=contacts.organisation:{b}&predicates=customer_of,has_prospect_org"
        ))
        .await;
    assert_eq!(
        paths.json["paths"].as_array().map(Vec::len),
        Some(1),
        "{}",
        paths.text
    );
    let entity = admin
        .get(&format!("/api/entities/contacts.organisation/{c}"))
        .await;
    assert_eq!(entity.json["label"], "C");

    // Duplicates, mirrors and rules come back with their codes.
    let again = admin
        .post(
            "/api/relations",
            json!({"subject": org(&a), "predicate": "has_prospect_org", "object": org(&c)}),
        )
        .await;
    assert_refused(&again, 409, "already_exists");
    let relation_id = admin
        .get(&format!(
            "/api/triples?subject=contacts.organisation:{b}&predicate=customer_of"
        ))
        .await
        .json["items"][0]["relation_id"]
        .as_str()
        .expect("relation")
        .to_owned();
    assert_eq!(
        admin
            .get(&format!("/api/relations/{relation_id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        admin
            .delete(&format!("/api/relations/{relation_id}"))
            .await
            .status,
        204
    );
    assert_refused(
        &admin.delete(&format!("/api/relations/{relation_id}")).await,
        404,
        "not_found",
    );

    // Types: disable, then delete with its relations.
    let disabled = admin
        .post("/api/relation-types/is_prospect_of/disable", json!({}))
        .await;
    assert_eq!(disabled.json["enabled"], false, "{}", disabled.text);
    assert_refused(
        &admin
            .post(
                "/api/relations",
                json!({"subject": org(&b), "predicate": "is_prospect_of", "object": org(&d)}),
            )
            .await,
        412,
        "failed_precondition",
    );
    assert_refused(
        &admin.delete("/api/relation-types/is_prospect_of").await,
        412,
        "failed_precondition",
    );
    let deleted = admin
        .delete("/api/relation-types/is_prospect_of?cascade=true")
        .await;
    assert_eq!(deleted.json["relations_removed"], 2, "{}", deleted.text);
    let batch = admin
        .post(
            "/api/relations/batch",
            json!({"triples": [
                {"subject": org(&b), "predicate": "partner_of", "object": org(&c)},
                {"subject": org(&b), "predicate": "partner_of", "object": org(&b)}
            ]}),
        )
        .await;
    assert_refused(&batch, 400, "invalid_argument");
    assert_eq!(batch.error_field(), "triples[1]", "{}", batch.text);
    let to_subjects = admin
        .post(
            "/api/relations/to-subjects",
            json!({"subjects": [org(&b), org(&c)], "relations": [{"predicate": "partner_of", "object": org(&d)}]}),
        )
        .await;
    assert_eq!(
        to_subjects.json["relations"].as_array().map(Vec::len),
        Some(2),
        "{}",
        to_subjects.text
    );
}

#[tokio::test]
async fn services_refuse_calls_without_a_signed_identity_when_told_to() {
    let gateway = Gateway::start_with(vec![
        ("LIAISON__SECURITY__UNSIGNED_CALLS".into(), "refuse".into()),
        (
            "LIAISON__SECURITY__IDENTITY_KEY".into(),
            "0123456789abcdef0123456789abcdef-test".into(),
        ),
    ])
    .await;
    let mut contacts = gateway.liaison.contacts().await.expect("client");
    let refused = contacts
        .list_categories(liaison_proto::contacts::v1::ListCategoriesRequest {})
        .await
        .expect_err("unsigned call");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert!(
        refused.message().contains("signed identity"),
        "{}",
        refused.message()
    );

    let mut forged = tonic::Request::new(liaison_proto::contacts::v1::ListCategoriesRequest {});
    forged.metadata_mut().insert(
        "liaison-identity",
        "v1;user:x;admin;99999999999;AAAA".parse().expect("ascii"),
    );
    let refused = contacts.list_categories(forged).await.expect_err("forged");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // The gateway signs its calls: the API works.
    let admin = gateway.admin().await;
    assert_eq!(
        admin
            .post("/api/organisations", json!({"name": "A"}))
            .await
            .status,
        201
    );
    let history = admin.get("/api/organisations").await;
    let id = history.json["items"][0]["id"].as_str().expect("id");
    let entries = admin.get(&format!("/api/contacts/{id}/history")).await;
    let admin_id = admin.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        entries.json["items"][0]["actor"],
        format!("user:{admin_id}"),
        "events name the person, from the verified identity"
    );
}

/// Every row of the gateway's read models, as text.
async fn gateway_rows(database: &std::path::Path) -> Vec<String> {
    let pool =
        sqlx::SqlitePool::connect_with(liaison_eventstore::sqlite::connect_options(database))
            .await
            .expect("open gateway.sqlite");
    let mut rows = Vec::new();
    for (table, columns) in [
        ("users", "id || '|' || email || '|' || display_name || '|' || role || '|' || password_hash || '|' || disabled || '|' || created_at || '|' || updated_at || '|' || version"),
        ("sessions", "session_hash || '|' || user_id || '|' || created_at || '|' || expires_at || '|' || address || '|' || user_agent"),
        ("api_tokens", "id || '|' || user_id || '|' || name || '|' || token_hash || '|' || prefix || '|' || created_at || '|' || expires_at || '|' || coalesce(revoked_at, 'live')"),
    ] {
        let text: Vec<String> = sqlx::query_scalar(&format!("SELECT {columns} FROM {table} ORDER BY 1"))
            .fetch_all(&pool)
            .await
            .expect("rows");
        rows.extend(text.into_iter().map(|row| format!("{table}: {row}")));
    }
    pool.close().await;
    rows
}

#[tokio::test]
async fn users_come_from_the_cli_and_the_rebuilt_accounts_equal_the_live_ones() {
    let mut gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let token = admin
        .post("/api/tokens", json!({"name": "kept"}))
        .await
        .json["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let revoked = admin.post("/api/tokens", json!({"name": "gone"})).await;
    let revoked_id = revoked.json["token"]["id"].as_str().expect("id").to_owned();
    admin.delete(&format!("/api/tokens/{revoked_id}")).await;
    let staff = gateway.user(&admin, "staff@example.org", "staff").await;
    let staff_id = staff.get("/api/session").await.json["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    admin
        .patch(
            &format!("/api/users/{staff_id}"),
            json!({"role": "customer"}),
        )
        .await;
    let session = admin.cookie("liaison_session").expect("session");
    gateway.liaison.stop().expect("stop");

    let data_dir = gateway.liaison.data_dir.clone();
    let data = data_dir.to_str().expect("utf-8 path");
    let created = liaison_tests::run_cli(&[
        "admin",
        "create-user",
        "--data-dir",
        data,
        "--email",
        "Lecturer@Example.org",
        "--name",
        "A lecturer",
        "--role",
        "staff",
    ])
    .expect("create-user");
    assert!(
        created.contains("created staff lecturer@example.org"),
        "{created}"
    );
    let password = created
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("the generated password is printed")
        .to_owned();
    let refused = liaison_tests::run_cli(&[
        "admin",
        "create-user",
        "--data-dir",
        data,
        "--email",
        "lecturer@example.org",
    ])
    .expect_err("the same email twice");
    assert!(refused.to_string().contains("already exists"), "{refused}");
    let refused = liaison_tests::run_cli(&[
        "admin",
        "create-user",
        "--data-dir",
        data,
        "--email",
        "x@example.org",
        "--role",
        "boss",
    ])
    .expect_err("unknown role");
    assert!(
        refused.to_string().contains("admin, staff or customer"),
        "{refused}"
    );

    let database = data_dir.join("gateway.sqlite");
    let live = gateway_rows(&database).await;
    assert!(live.iter().any(|row| row.starts_with("sessions: ")));
    let rebuilt = liaison_tests::run_cli(&[
        "admin",
        "rebuild",
        "--target",
        "gateway",
        "--data-dir",
        data,
    ])
    .expect("rebuild");
    assert!(
        rebuilt.contains("gateway: read models rebuilt"),
        "{rebuilt}"
    );
    assert_eq!(gateway_rows(&database).await, live, "rebuilt equals live");

    // And it all still works after a restart.
    gateway.liaison = Liaison::start_with(
        &data_dir,
        &Topology {
            env: vec![("LIAISON__AUTH__ADMIN_PASSWORD".into(), PASSWORD.into())],
            ..Topology::default()
        },
    )
    .await
    .expect("restart");
    let lecturer = gateway.client();
    assert_eq!(
        lecturer
            .login("lecturer@example.org", &password)
            .await
            .status,
        201
    );
    assert_eq!(lecturer.get("/api/persons").await.status, 200);
    let same_session = gateway.client();
    same_session.set_cookie("liaison_session", &session);
    assert_eq!(same_session.get("/api/session").await.status, 200);
    let bearer = HttpClient::with_bearer(&gateway.liaison.http_addr, &token);
    assert_eq!(bearer.get("/api/persons").await.status, 200);
    let demoted = gateway.client();
    assert_eq!(
        demoted.login("staff@example.org", PASSWORD).await.status,
        201
    );
    assert_refused(&demoted.get("/api/persons").await, 403, "permission_denied");
}
