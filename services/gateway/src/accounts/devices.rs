//! Known devices: after a successful login the browser gets a token that
//! names it for that account, `<device id>.<tag>`, the tag an HMAC of the
//! account and the id under a key of the gateway. Nothing is stored: a
//! token is known by its tag alone, so any gateway replica sharing the key
//! recognises it. It lets its holder past the account-wide and
//! address-wide slowdowns of the login guard (never past the password).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a device token's key is derived for, from the deployment's key.
pub const KEY_PURPOSE: &[u8] = b"liaison gateway known devices v1";
/// Bytes of the tag kept in the token (128 bits).
const TAG_BYTES: usize = 16;

#[derive(Clone)]
pub struct DeviceKey(Vec<u8>);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(********)")
    }
}

impl DeviceKey {
    pub fn new(secret: &[u8]) -> Self {
        DeviceKey(secret.to_vec())
    }

    /// A token for a device new to `account`, or the same device's.
    pub fn token(&self, account: &str, device: Option<&str>) -> String {
        let id = device.map_or_else(
            || URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
            str::to_owned,
        );
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(self.tag(account, &id)))
    }

    /// The device id of a token issued for `account` under this key.
    pub fn device_of(&self, account: &str, token: &str) -> Option<String> {
        let (id, tag) = token.split_once('.')?;
        if id.is_empty() || id.len() > 64 {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mac = self.mac(account, id);
        mac.verify_truncated_left(&tag).ok()?;
        (tag.len() == TAG_BYTES).then(|| id.to_owned())
    }

    fn tag(&self, account: &str, id: &str) -> Vec<u8> {
        let mut tag = self.mac(account, id).finalize().into_bytes().to_vec();
        tag.truncate(TAG_BYTES);
        tag
    }

    fn mac(&self, account: &str, id: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac accepts every key length"));
        mac.update(account.trim().to_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(id.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_device_for_its_account_only() {
        let key = DeviceKey::new(b"a key of this deployment, long enough");
        let token = key.token("ada@example.org", None);
        let device = key.device_of("Ada@example.org", &token).expect("known");
        assert_eq!(key.token("ada@example.org", Some(&device)), token, "stable");
        assert_eq!(key.device_of("bob@example.org", &token), None);
        let other_key = DeviceKey::new(b"another deployment's key, long enough");
        assert_eq!(other_key.device_of("ada@example.org", &token), None);
    }

    #[test]
    fn altered_and_malformed_tokens_are_unknown() {
        let key = DeviceKey::new(b"a key of this deployment, long enough");
        let token = key.token("ada@example.org", Some("laptop"));
        let (id, tag) = token.split_once('.').expect("two parts");
        for bad in [
            format!("other.{tag}"),
            format!("{id}.{}", &tag[..tag.len() - 2]),
            format!("{id}."),
            format!(".{tag}"),
            id.to_owned(),
            String::new(),
            format!("{id}.!!!"),
        ] {
            assert_eq!(key.device_of("ada@example.org", &bad), None, "{bad:?}");
        }
    }
}
