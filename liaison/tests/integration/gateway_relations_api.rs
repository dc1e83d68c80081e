//! The gateway's REST API for relations beyond creating and listing them,
//! in-process: deleting by triple and by predicate, the candidates a picker
//! offers, duplicating a contact with its relations, and the history of an
//! entity's relations.

use serde_json::json;

use crate::support::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relations_are_deleted_by_triple_and_by_predicate_and_candidates_offered() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let mut ids = Vec::new();
    for name in ["Acme", "Beta", "Cobalt SA", "Delta Corp"] {
        let created = admin
            .post("/api/organisations", json!({"name": name}))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        ids.push(created.json["id"].as_str().expect("id").to_owned());
    }
    let org = |id: &str| json!({"kind": "contacts.organisation", "id": id});
    let entity = |id: &str| format!("contacts.organisation:{id}");
    let (acme, beta, cobalt, delta) = (&ids[0], &ids[1], &ids[2], &ids[3]);

    // Candidates arrive as the relations service hears of the contacts.
    let candidates =
        format!("/api/entities/contacts.organisation/{acme}/candidates?predicate=partner_of");
    let mut labels = Vec::new();
    for _ in 0..100 {
        let page = admin.get(&candidates).await;
        assert_eq!(page.status, 200, "{}", page.text);
        labels = page.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["label"].as_str().map(str::to_owned))
            .collect();
        if labels.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(labels, ["Beta", "Cobalt SA", "Delta Corp"]);

    let batch = admin
        .post(
            "/api/relations/batch",
            json!({"triples": [
                {"subject": org(acme), "predicate": "partner_of", "object": org(beta)},
                {"subject": org(acme), "predicate": "partner_of", "object": org(cobalt)},
                {"subject": org(delta), "predicate": "customer_of", "object": org(acme)}
            ]}),
        )
        .await;
    assert_eq!(batch.status, 201, "{}", batch.text);
    let again = admin
        .post(
            "/api/relations/batch",
            json!({"skip_existing": true, "triples": [
                {"subject": org(beta), "predicate": "partner_of", "object": org(acme)}
            ]}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json["skipped"], 1);
    assert_eq!(
        again.json["existing"][0]["id"], batch.json["relations"][0]["id"],
        "the relation holding the triple"
    );
    let page = admin.get(&candidates).await;
    assert_eq!(
        page.json["items"][0]["label"], "Delta Corp",
        "{}",
        page.text
    );

    let deleted = admin
        .delete(&format!(
            "/api/triples?subject={}&predicate=supplier_of&object={}",
            entity(acme),
            entity(delta)
        ))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        deleted.json["relation_id"],
        batch.json["relations"][2]["id"]
    );
    let gone = admin
        .delete(&format!(
            "/api/triples?subject={}&predicate=supplier_of&object={}",
            entity(acme),
            entity(delta)
        ))
        .await;
    assert_eq!(gone.status, 404, "{}", gone.text);

    let cleared = admin
        .delete(&format!(
            "/api/entities/contacts.organisation/{acme}/relations?predicate=partner_of&other_kinds=contacts.organisation"
        ))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.json["deleted"], 2);
    let left = admin
        .get(&format!(
            "/api/entities/contacts.organisation/{acme}/relations"
        ))
        .await;
    assert_eq!(left.json["total"], 0, "{}", left.text);
    let bad = admin
        .delete(&format!(
            "/api/entities/contacts.organisation/{acme}/relations?other_kinds=contacts.organisation"
        ))
        .await;
    assert_eq!(bad.status, 400, "a predicate is required: {}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_takes_the_fields_and_copiable_relations_but_no_email() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let acme = admin
        .post("/api/organisations", json!({"name": "Acme"}))
        .await;
    let acme_id = acme.json["id"].as_str().expect("id").to_owned();
    let marcel = admin
        .post(
            "/api/persons",
            json!({"given_name": "Marcel", "family_name": "Dupont", "job_title": "Buyer",
                   "tags": ["vip"], "emails": [{"address": "marcel@example.org", "primary": true}],
                   "phones": [{"number": "+33 5 56 00 00 00"}],
                   "external_refs": [{"source": "crm", "external_id": "42"}]}),
        )
        .await;
    assert_eq!(marcel.status, 201, "{}", marcel.text);
    let marcel_id = marcel.json["id"].as_str().expect("id").to_owned();
    let related = admin
        .post(
            "/api/relations",
            json!({"subject": {"kind": "contacts.person", "id": marcel_id},
                   "predicate": "employed_by",
                   "object": {"kind": "contacts.organisation", "id": acme_id}}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);

    let duplicate = admin
        .post(&format!("/api/contacts/{marcel_id}/duplicate"), json!({}))
        .await;
    assert_eq!(duplicate.status, 201, "{}", duplicate.text);
    let copy = &duplicate.json["contact"];
    assert_ne!(copy["id"], marcel.json["id"]);
    assert_eq!(copy["family_name"], "Dupont");
    assert_eq!(copy["job_title"], "Buyer");
    assert_eq!(copy["tags"], json!(["vip"]));
    assert_eq!(copy["emails"], json!([]), "an email names one person");
    assert_eq!(copy["external_refs"], json!([]));
    assert_eq!(copy["phones"].as_array().map(Vec::len), Some(1));
    assert_eq!(duplicate.json["relations_copied"], 1);
    let copy_id = copy["id"].as_str().expect("id");
    let relations = admin
        .get(&format!(
            "/api/entities/contacts.person/{copy_id}/relations"
        ))
        .await;
    assert_eq!(relations.json["items"][0]["predicate"], "employed_by");
    assert_eq!(relations.json["items"][0]["other"]["id"], acme_id.as_str());

    let trashed = admin
        .post(&format!("/api/contacts/{acme_id}/trash"), json!({}))
        .await;
    assert_eq!(trashed.status, 200, "{}", trashed.text);
    let refused = admin
        .post(&format!("/api/contacts/{acme_id}/duplicate"), json!({}))
        .await;
    assert_eq!(refused.status, 412, "{}", refused.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entitys_relation_history_says_who_added_and_removed_what() {
    let gateway = Gateway::start().await;
    let admin = gateway.admin().await;
    let mut ids = Vec::new();
    for name in ["Acme", "Beta"] {
        let created = admin
            .post("/api/organisations", json!({"name": name}))
            .await;
        ids.push(created.json["id"].as_str().expect("id").to_owned());
    }
    let org = |id: &str| json!({"kind": "contacts.organisation", "id": id});
    let related = admin
        .post(
            "/api/relations",
            json!({"subject": org(&ids[0]), "predicate": "customer_of", "object": org(&ids[1])}),
        )
        .await;
    assert_eq!(related.status, 201, "{}", related.text);
    let relation_id = related.json["id"].as_str().expect("id").to_owned();
    let deleted = admin.delete(&format!("/api/relations/{relation_id}")).await;
    assert_eq!(deleted.status, 204);
    let me = admin.get("/api/session").await;
    let actor = format!("user:{}", me.json["user"]["id"].as_str().expect("my id"));

    let history = admin
        .get(&format!(
            "/api/entities/contacts.organisation/{}/history?limit=1",
            ids[1]
        ))
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    let item = &history.json["items"][0];
    assert_eq!(item["change"], "removed");
    assert_eq!(item["predicate"], "supplier_of", "seen from Beta");
    assert_eq!(item["other_label"], "Acme");
    assert_eq!(item["cause"], "requested");
    assert_eq!(item["actor"], actor.as_str());
    assert_eq!(item["relation_id"], relation_id.as_str());
    let cursor = history.json["next_cursor"].as_str().expect("a next page");
    let older = admin
        .get(&format!(
            "/api/entities/contacts.organisation/{}/history?limit=1&cursor={cursor}",
            ids[1]
        ))
        .await;
    assert_eq!(older.json["items"][0]["change"], "added");
    assert!(older.json["next_cursor"].is_null());
}
