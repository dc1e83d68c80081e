//! Completes the OpenAPI document with what holds for every operation of a
//! kind, so a generated client knows every answer it can get and every
//! identifier's shape: written once here rather than on 48 handlers, and
//! checked against the live gateway by schemathesis (`make contract`).
//!
//! - 400 where there is input (parameters or a body), 413 where a body is
//!   too large, 401 where a caller must authenticate, 403 where a role is
//!   needed or a session must send its CSRF token, 404 where a path names
//!   something, 409 and 412 on changes (a newer version, a rule of the
//!   service), 503 when a service or database behind the gateway is down:
//!   each with the error body.
//! - Path identifiers: contacts, categories, relations, users and tokens
//!   are UUIDs; relation types, entity kinds and entity ids have the
//!   alphabets the relations service accepts.
//! - Links from each creation to the operations on what it created (the
//!   `id` of its answer), so clients and stateful tests can follow them.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// The standard error answers, by status.
const ANSWERS: &[(&str, &str)] = &[
    (
        "400",
        "bad input: `field` names the parameter or body field at fault",
    ),
    ("401", "not authenticated: no session or API token, or an expired one"),
    (
        "403",
        "not allowed: the caller's role or permissions, or a session's change without its CSRF token",
    ),
    ("404", "not found (or not of this kind)"),
    (
        "409",
        "conflict: changed meanwhile (send the version read), or already exists",
    ),
    ("412", "refused by a rule of the service (the message says which)"),
    ("413", "the request body is larger than the gateway accepts"),
    ("503", "a service or database behind the gateway is unavailable"),
];

/// Adds the answers, identifier shapes and links to every operation of
/// `document`.
pub fn complete(document: &mut OpenApi) {
    link_creations(document);
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            ("GET", item.get.as_mut()),
            ("POST", item.post.as_mut()),
            ("PUT", item.put.as_mut()),
            ("PATCH", item.patch.as_mut()),
            ("DELETE", item.delete.as_mut()),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                add_answers(path, method, operation);
                shape_path_parameters(path, operation);
            }
        }
    }
}

fn add_answers(path: &str, method: &str, operation: &mut Operation) {
    let logs_in = method == "POST" && path == "/api/session";
    let has_input = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty())
        || operation.request_body.is_some();
    let names_something = path.contains('{');
    let changes = method != "GET";
    let own_account = path.starts_with("/api/session") || path.starts_with("/api/tokens");
    let statuses = [
        ("400", has_input),
        ("401", !logs_in),
        // Any authenticated caller may read its own session and tokens;
        // every change made with a session needs its CSRF token.
        ("403", !logs_in && (changes || !own_account)),
        // A change may name what does not exist in its body too.
        ("404", names_something || (changes && !own_account)),
        ("409", changes && !own_account),
        ("412", changes && !own_account),
        ("413", operation.request_body.is_some()),
        ("503", true),
    ];
    for (status, applies) in statuses {
        if !applies || operation.responses.responses.contains_key(status) {
            continue;
        }
        let description = ANSWERS
            .iter()
            .find(|(known, _)| *known == status)
            .map_or("error", |(_, description)| description);
        operation
            .responses
            .responses
            .insert(status.to_owned(), RefOr::T(error_answer(description)));
    }
}

/// The operations on what `POST <collection>` creates: those of
/// `<collection>/{id}…`, and for persons and organisations those of
/// `/api/contacts/{id}…`.
fn link_creations(document: &mut OpenApi) {
    let mut operation_ids: Vec<(String, String)> = Vec::new();
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            if let Some(id) = &operation.operation_id {
                operation_ids.push((path.clone(), id.clone()));
            }
        }
    }
    for (collection, item) in document.paths.paths.iter_mut() {
        if collection.contains('{') {
            continue;
        }
        let Some(created) = item
            .post
            .as_mut()
            .and_then(|post| post.responses.responses.get_mut("201"))
        else {
            continue;
        };
        let RefOr::T(created) = created else {
            continue;
        };
        let contacts = matches!(collection.as_str(), "/api/persons" | "/api/organisations");
        for (path, operation_id) in &operation_ids {
            let on_it = path.starts_with(&format!("{collection}/{{id}}"))
                || (contacts && path.starts_with("/api/contacts/{id}"));
            if on_it {
                created.links.insert(
                    operation_id.clone(),
                    RefOr::T(
                        LinkBuilder::new()
                            .operation_id(operation_id.clone())
                            .parameter("id", "$response.body#/id")
                            .build(),
                    ),
                );
            }
        }
    }
}

/// The document as served. utoipa 5 writes a link's fields in snake case
/// (`operation_id`) where OpenAPI says `operationId` and `requestBody`:
/// they are renamed here, the one place the document becomes JSON.
pub fn to_json(document: &OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(document).unwrap_or(serde_json::Value::Null);
    let operations = json
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let answers = operation
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|answers| answers.values_mut());
        for answer in answers {
            let links = answer
                .get_mut("links")
                .and_then(serde_json::Value::as_object_mut)
                .into_iter()
                .flat_map(|links| links.values_mut())
                .filter_map(serde_json::Value::as_object_mut);
            for link in links {
                for (written, specified) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(value) = link.remove(written) {
                        link.insert(specified.to_owned(), value);
                    }
                }
            }
        }
    }
    json
}

fn error_answer(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The shape of each path parameter of `path`.
fn shape_path_parameters(path: &str, operation: &mut Operation) {
    let Some(parameters) = operation.parameters.as_mut() else {
        return;
    };
    for parameter in parameters
        .iter_mut()
        .filter(|parameter| parameter.parameter_in == ParameterIn::Path)
    {
        if let Some(schema) = path_parameter_schema(path, &parameter.name) {
            set_schema(parameter, schema);
        }
    }
}

fn path_parameter_schema(path: &str, name: &str) -> Option<Schema> {
    let text = |pattern: &str, max: usize| {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .min_length(Some(1))
                .max_length(Some(max))
                .build(),
        )
    };
    match (name, path) {
        ("kind", _) => Some(text("^[a-z0-9_]+\\.[a-z0-9_]+$", 64)),
        ("id", path) if path.starts_with("/api/entities/") => Some(text("^[A-Za-z0-9_-]+$", 64)),
        ("id", path) if path.starts_with("/api/relation-types/") => {
            Some(text("^[a-z0-9_.-]+$", 64))
        }
        ("id", _) => Some(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uuid".into())))
                .description(Some("a UUID"))
                .build(),
        )),
        _ => None,
    }
}

fn set_schema(parameter: &mut Parameter, schema: Schema) {
    parameter.schema = Some(RefOr::T(schema));
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApiBuilder};

    use super::*;

    fn document_of(path: &str, method: HttpMethod, operation: Operation) -> OpenApi {
        OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(
                PathsBuilder::new()
                    .path(path, PathItem::new(method, operation))
                    .build(),
            )
            .build()
    }

    fn statuses(document: &OpenApi, path: &str) -> Vec<String> {
        let item = &document.paths.paths[path];
        let operation = [&item.get, &item.post, &item.patch, &item.delete, &item.put]
            .into_iter()
            .flatten()
            .next()
            .expect("an operation");
        operation.responses.responses.keys().cloned().collect()
    }

    fn id_in_path() -> ParameterBuilder {
        ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
    }

    #[test]
    fn a_change_to_a_named_contact_documents_every_refusal() {
        let operation = OperationBuilder::new()
            .parameter(id_in_path())
            .response("200", ResponseBuilder::new().description("ok").build())
            .build();
        let mut document = document_of("/api/persons/{id}", HttpMethod::Patch, operation);
        complete(&mut document);
        assert_eq!(
            statuses(&document, "/api/persons/{id}"),
            ["200", "400", "401", "403", "404", "409", "412", "503"]
        );
        let parameter = &document.paths.paths["/api/persons/{id}"]
            .patch
            .as_ref()
            .expect("patch")
            .parameters
            .as_ref()
            .expect("parameters")[0];
        let schema = serde_json::to_value(&parameter.schema).expect("json");
        assert_eq!(schema["format"], "uuid");
    }

    #[test]
    fn a_creation_links_to_the_operations_on_what_it_created() {
        let create = OperationBuilder::new()
            .operation_id(Some("create_category"))
            .response("201", ResponseBuilder::new().description("created").build())
            .build();
        let rename = OperationBuilder::new()
            .operation_id(Some("rename_category"))
            .parameter(id_in_path())
            .response("200", ResponseBuilder::new().description("ok").build())
            .build();
        let mut document = OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(
                PathsBuilder::new()
                    .path("/api/categories", PathItem::new(HttpMethod::Post, create))
                    .path(
                        "/api/categories/{id}",
                        PathItem::new(HttpMethod::Patch, rename),
                    )
                    .build(),
            )
            .build();
        complete(&mut document);
        let json = to_json(&document);
        let link = &json["paths"]["/api/categories"]["post"]["responses"]["201"]["links"]
            ["rename_category"];
        assert_eq!(link["operationId"], "rename_category", "{link}");
        assert_eq!(link["parameters"]["id"], "$response.body#/id");
        assert!(link.get("operation_id").is_none());
    }

    #[test]
    fn reading_ones_own_session_needs_no_role_and_logging_in_no_credentials() {
        let read = OperationBuilder::new()
            .response("200", ResponseBuilder::new().description("ok").build())
            .build();
        let mut document = document_of("/api/session", HttpMethod::Get, read);
        complete(&mut document);
        assert_eq!(statuses(&document, "/api/session"), ["200", "401", "503"]);
        let login = OperationBuilder::new()
            .response("201", ResponseBuilder::new().description("ok").build())
            .build();
        let mut document = document_of("/api/session", HttpMethod::Post, login);
        complete(&mut document);
        assert_eq!(statuses(&document, "/api/session"), ["201", "503"]);
    }
}
