//! What every service's gRPC tests check of a refused call.

use crate::errors::FIELD_METADATA_KEY;

/// The status of a call expected to fail, with its code checked.
pub fn expect_code<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
) -> tonic::Status {
    match result {
        Ok(response) => panic!("expected {code:?}, got {:?}", response.into_inner()),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The request field a refusal names, empty when none.
pub fn field_of(status: &tonic::Status) -> String {
    status
        .metadata()
        .get(FIELD_METADATA_KEY)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The key test servers verify identities with.
pub fn identity_key() -> crate::identity::IdentityKey {
    crate::identity::IdentityKey::new(b"liaison-tests-identity-key-0123456789")
}

/// What a test server asks of its callers: identities signed with
/// [`identity_key`] are verified, unsigned calls pass (as anonymous).
pub fn identity_policy() -> crate::grpc::IdentityPolicy {
    crate::grpc::IdentityPolicy {
        key: identity_key(),
        allow_unsigned: true,
    }
}

/// `message` as a call by `actor` in `role`, signed with [`identity_key`].
pub fn signed<T>(message: T, actor: &str, role: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let signed = identity_key().sign(actor, role, std::time::SystemTime::now());
    request.metadata_mut().insert(
        crate::identity::IDENTITY_METADATA_KEY,
        signed.parse().expect("a signed identity is ASCII"),
    );
    request
}
