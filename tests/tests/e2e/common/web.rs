//! What the web UI's tests share: a Liaison with a known first admin, a
//! browser-like client logged in, where a redirect goes, and the fields of a
//! page's form.

use liaison_tests::http::{HttpClient, Reply};
use liaison_tests::Liaison;

pub const ADMIN: &str = "admin@localhost";
pub const PASSWORD: &str = "correct horse battery";

pub async fn start() -> (Liaison, tempfile::TempDir) {
    Liaison::start_with_admin(PASSWORD).await
}

pub fn location(reply: &Reply) -> String {
    reply
        .headers
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Logs in through the form; returns the page's CSRF token.
pub async fn log_in(client: &HttpClient) -> String {
    log_in_as(client, ADMIN, PASSWORD).await
}

pub async fn log_in_as(client: &HttpClient, email: &str, password: &str) -> String {
    let page = client.get("/login?next=/organisations").await;
    let token = HttpClient::hidden_field(&page.text, "csrf").expect("login token");
    let reply = client
        .post_form(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &token),
                ("next", "/organisations"),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    assert_eq!(location(&reply), "/organisations");
    let home = client.get("/").await;
    HttpClient::hidden_field(&home.text, "csrf").expect("page token")
}

/// The fields of the page's form that posts to `action`, as a browser
/// would send them back unchanged: inputs with their values, checked boxes and radios, text
/// areas, selected options.
pub fn form_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let unescape = html_unescape;
    let start = page
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posts to {action}"));
    let end = start + page[start..].find("</form>").expect("form end");
    let page = &page[start..end];
    let attribute = |tag: &str, name: &str| {
        let marker = format!(" {name}=\"");
        tag.find(&marker).map(|start| {
            let start = start + marker.len();
            let end = tag[start..].find('"').map_or(tag.len(), |end| start + end);
            unescape(&tag[start..end])
        })
    };
    let mut fields = Vec::new();
    for (index, _) in page.match_indices("<input ") {
        let tag = &page[index..index + page[index..].find('>').expect("tag end")];
        let (Some(name), value) = (attribute(tag, "name"), attribute(tag, "value")) else {
            continue;
        };
        let kind = attribute(tag, "type").unwrap_or_default();
        if (kind == "checkbox" || kind == "radio") && !tag.contains(" checked") {
            continue;
        }
        fields.push((name, value.unwrap_or_default()));
    }
    for (index, _) in page.match_indices("<textarea ") {
        let open_end = index + page[index..].find('>').expect("tag end");
        let name = attribute(&page[index..open_end], "name").expect("named");
        let close = open_end + page[open_end..].find("</textarea>").expect("closed");
        fields.push((name, unescape(&page[open_end + 1..close])));
    }
    for (index, _) in page.match_indices("<select ") {
        let open_end = index + page[index..].find('>').expect("tag end");
        let name = attribute(&page[index..open_end], "name").expect("named");
        let close = open_end + page[open_end..].find("</select>").expect("closed");
        let selected = page[open_end..close]
            .split("<option")
            .find(|option| option.contains(" selected"))
            .and_then(|option| attribute(option, "value"))
            .unwrap_or_default();
        fields.push((name, selected));
    }
    fields
}

/// Text of an HTML page as the browser reads it (askama writes `&#60;`).
pub fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix('#')
                .and_then(|number| number.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn with(fields: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = fields
        .iter()
        .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
        .cloned()
        .collect();
    fields.extend(
        changes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    fields
}

pub async fn post_fields(client: &HttpClient, path: &str, fields: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    client.post_form(path, &pairs).await
}
