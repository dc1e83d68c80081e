//! The services behind the gateway, reached over gRPC: the process's own
//! gRPC port when they run here (loopback), their configured addresses
//! otherwise. Every call carries the caller's signed identity, the trace
//! context and a request id.

use std::time::{Duration, SystemTime};

use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;
use liaison_runtime::identity::{IdentityKey, IDENTITY_METADATA_KEY};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::accounts::Caller;
use crate::GatewayError;

#[derive(Clone)]
pub struct Backends {
    contacts: ContactServiceClient<Channel>,
    relations: RelationServiceClient<Channel>,
    key: IdentityKey,
    internal_token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Backends {
    /// Channels to the services at `contacts_url` and `relations_url`,
    /// connected on first use (so the gateway starts before them).
    pub fn connect(
        contacts_url: &str,
        relations_url: &str,
        key: IdentityKey,
        internal_token: &str,
    ) -> Result<Self, GatewayError> {
        let channel = |service: &str, url: &str| {
            Endpoint::from_shared(url.to_owned())
                .map(|endpoint| {
                    endpoint
                        .connect_timeout(Duration::from_secs(3))
                        .timeout(Duration::from_secs(30))
                        .tcp_nodelay(true)
                        .connect_lazy()
                })
                .map_err(|error| {
                    GatewayError::Internal(format!(
                        "the {service} address {url:?} is not a URL: {error}"
                    ))
                })
        };
        let internal_token =
            if internal_token.is_empty() {
                None
            } else {
                Some(format!("Bearer {internal_token}").parse().map_err(|_| {
                    GatewayError::Internal("the internal token is not ASCII".into())
                })?)
            };
        Ok(Self {
            contacts: ContactServiceClient::new(channel("contacts", contacts_url)?),
            relations: RelationServiceClient::new(channel("relations", relations_url)?),
            key,
            internal_token,
        })
    }

    pub fn contacts(&self) -> ContactServiceClient<Channel> {
        self.contacts.clone()
    }

    pub fn relations(&self) -> RelationServiceClient<Channel> {
        self.relations.clone()
    }

    /// `message` as a call on behalf of `caller`.
    pub fn request<T>(&self, caller: &Caller, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let signed = self
            .key
            .sign(&caller.actor(), caller.role.as_str(), SystemTime::now());
        let metadata = request.metadata_mut();
        if let Ok(value) = signed.parse() {
            metadata.insert(IDENTITY_METADATA_KEY, value);
        }
        if let Some(token) = &self.internal_token {
            metadata.insert("authorization", token.clone());
        }
        if let Some(traceparent) = liaison_runtime::trace::traceparent_of(&tracing::Span::current())
        {
            if let Ok(value) = traceparent.parse() {
                metadata.insert("traceparent", value);
            }
        }
        request
    }
}
