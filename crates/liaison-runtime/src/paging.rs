//! The paging rules every listing follows: the page size a request may ask
//! for, and the page token that continues a listing after the last row a
//! page showed.
//!
//! A token is opaque to callers: base64url of the listing's name and the
//! key of the last row, so a token of one listing (or one sort order) is
//! refused by another rather than misread.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Rows of a page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most rows a request may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The longest token accepted: a key holds a few ids and a sort value,
/// the longest a person's sort name (two names of 200 characters of up to
/// 4 bytes: 1.6 KB, 2.2 KB in base64).
const MAX_TOKEN_LENGTH: usize = 4_096;
const SEPARATOR: char = '\u{1f}';

/// A page request that breaks the rules; the field is the request's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PagingError {
    pub field: &'static str,
    pub message: String,
}

/// The page size to use for `requested` (0: the default).
pub fn page_size(requested: u32) -> Result<u32, PagingError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size > MAX_PAGE_SIZE => Err(PagingError {
            field: "page_size",
            message: format!("{size} is too large; at most {MAX_PAGE_SIZE}"),
        }),
        size => Ok(size),
    }
}

/// The token continuing `listing` after the row whose key is `key`.
pub fn encode_token(listing: &str, key: &[&str]) -> String {
    debug_assert!(!listing.contains(SEPARATOR));
    let mut text = listing.to_owned();
    for part in key {
        text.push(SEPARATOR);
        text.push_str(part);
    }
    URL_SAFE_NO_PAD.encode(text)
}

/// The key a token of `listing` carries (`parts` values); `None` for an
/// empty token (the first page).
pub fn decode_token(
    listing: &str,
    token: &str,
    parts: usize,
) -> Result<Option<Vec<String>>, PagingError> {
    if token.is_empty() {
        return Ok(None);
    }
    let refused = || PagingError {
        field: "page_token",
        message: format!("{token:?} is not a page token of this listing"),
    };
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(refused());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
    let text = String::from_utf8(bytes).map_err(|_| refused())?;
    let mut pieces = text.split(SEPARATOR);
    if pieces.next() != Some(listing) {
        return Err(refused());
    }
    let key: Vec<String> = pieces.map(str::to_owned).collect();
    if key.len() != parts {
        return Err(refused());
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gives_back_the_key_it_was_made_of() {
        let token = encode_token("contacts.by_name", &["dupont marcel", "0190-a"]);
        assert_eq!(
            decode_token("contacts.by_name", &token, 2),
            Ok(Some(vec!["dupont marcel".to_owned(), "0190-a".to_owned()]))
        );
        assert_eq!(decode_token("contacts.by_name", "", 2), Ok(None));
        // Values may hold anything but the separator, empty ones included.
        let token = encode_token("history", &["", "a|b"]);
        assert_eq!(
            decode_token("history", &token, 2),
            Ok(Some(vec![String::new(), "a|b".to_owned()]))
        );
    }

    #[test]
    fn a_token_of_another_listing_or_shape_is_refused() {
        let token = encode_token("contacts.by_name", &["a", "b"]);
        for (listing, parts) in [("contacts.by_created", 2), ("contacts.by_name", 3)] {
            let error = decode_token(listing, &token, parts).expect_err("refused");
            assert_eq!(error.field, "page_token");
        }
        for garbage in ["garbage!", "zz", &"A".repeat(3_000)] {
            assert!(
                decode_token("contacts.by_name", garbage, 2).is_err(),
                "{garbage}"
            );
        }
    }

    #[test]
    fn page_sizes_default_and_are_capped() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(MAX_PAGE_SIZE), Ok(MAX_PAGE_SIZE));
        let error = page_size(MAX_PAGE_SIZE + 1).expect_err("too large");
        assert_eq!(error.field, "page_size");
    }
}
