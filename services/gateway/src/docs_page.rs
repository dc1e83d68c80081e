//! `/api/docs`: the OpenAPI document rendered as one HTML page on the
//! server (no script, nothing fetched from elsewhere, its stylesheet an
//! asset of the site as the Content-Security-Policy asks).

use std::fmt::Write;

use axum::response::Html;
use serde_json::Value;
use utoipa::openapi::OpenApi;

/// A handler answering the rendered page of `document`.
pub fn render(document: &OpenApi) -> impl Fn() -> std::future::Ready<Html<String>> + Clone {
    let page = page(&serde_json::to_value(document).unwrap_or(Value::Null));
    move || std::future::ready(Html(page.clone()))
}

fn page(document: &Value) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let title = text(&document["info"]["title"]);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/assets/docs.css\"></head><body><main>\
         <h1>{title}</h1><p>{}</p><p><a href=\"/api/openapi.json\">openapi.json</a></p>",
        text(&document["info"]["description"])
    );
    let mut operations: Vec<(String, String, &Value)> = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(operation) = item.get(method) {
                    operations.push((path.clone(), method.to_owned(), operation));
                }
            }
        }
    }
    operations.sort_by(|a, b| (tag(a.2), &a.0).cmp(&(tag(b.2), &b.0)));
    let mut current_tag = String::new();
    for (path, method, operation) in operations {
        if tag(operation) != current_tag {
            current_tag = tag(operation);
            let _ = write!(html, "<h2>{}</h2>", escape(&current_tag));
        }
        let _ = write!(
            html,
            "<section class=\"op\"><h3><span class=\"method {method}\">{}</span> <code>{}</code></h3>",
            method.to_uppercase(),
            escape(&path)
        );
        for key in ["summary", "description"] {
            if let Some(value) = operation[key].as_str() {
                let _ = write!(html, "<p>{}</p>", escape(value));
            }
        }
        if let Some(parameters) = operation["parameters"].as_array() {
            html.push_str("<table><caption>Parameters</caption><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>");
            for parameter in parameters {
                let required = if parameter["required"].as_bool() == Some(true) {
                    " *"
                } else {
                    ""
                };
                let _ = write!(
                    html,
                    "<tr><td><code>{}{required}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    text(&parameter["name"]),
                    text(&parameter["in"]),
                    schema_name(&parameter["schema"]),
                    text(&parameter["description"]),
                );
            }
            html.push_str("</table>");
        }
        if let Some(schema) = operation["requestBody"]["content"]["application/json"].get("schema")
        {
            let _ = write!(html, "<p>Body: {}</p>", schema_name(schema));
        }
        if let Some(responses) = operation["responses"].as_object() {
            html.push_str("<ul class=\"responses\">");
            for (status, response) in responses {
                let schema = response["content"]["application/json"]
                    .get("schema")
                    .map(schema_name)
                    .unwrap_or_default();
                let _ = write!(
                    html,
                    "<li><b>{}</b> {} {schema}</li>",
                    escape(status),
                    text(&response["description"])
                );
            }
            html.push_str("</ul>");
        }
        html.push_str("</section>");
    }
    html.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = document["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                html,
                "<section class=\"schema\" id=\"schema-{0}\"><h3>{0}</h3>",
                escape(name)
            );
            if let Some(description) = schema["description"].as_str() {
                let _ = write!(html, "<p>{}</p>", escape(description));
            }
            if let Some(properties) = schema["properties"].as_object() {
                html.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
                for (field, property) in properties {
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        escape(field),
                        schema_name(property),
                        text(&property["description"])
                    );
                }
                html.push_str("</table>");
            }
            html.push_str("</section>");
        }
    }
    html.push_str("</main></body></html>");
    html
}

fn tag(operation: &Value) -> String {
    operation["tags"][0].as_str().unwrap_or("other").to_owned()
}

fn text(value: &Value) -> String {
    escape(value.as_str().unwrap_or_default())
}

/// A schema as a short type name, linking to named schemas.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        return variants
            .iter()
            .map(schema_name)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    match &schema["type"] {
        Value::String(kind) if kind == "array" => format!("[{}]", schema_name(&schema["items"])),
        Value::String(kind) => escape(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .map(escape)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    }
}

/// Text made safe to put between HTML tags or in a quoted attribute.
pub fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
