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
