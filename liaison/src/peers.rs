//! How a service reaches another: in-process when that target runs here,
//! over gRPC at the configured address otherwise. Callers never branch on
//! co-location.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use liaison_contacts::ContactsError;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;
use liaison_proto::relations::v1::relation_service_server::RelationService;
use liaison_relations::grpc::RelationsGrpc;
use liaison_runtime::identity::{IdentityKey, IDENTITY_METADATA_KEY};
use liaison_runtime::{RequestContext, SYSTEM_ROLE};
use tonic::transport::{Channel, Endpoint};

/// The relations service, as contacts asks it before a purge.
pub enum RelationsPeer {
    Local(Arc<RelationsGrpc>),
    Remote {
        url: String,
        channel: Channel,
        token: Option<String>,
        identity_key: IdentityKey,
    },
    /// Not here, and no address configured: a purge is refused with why.
    Unconfigured,
}

impl RelationsPeer {
    /// A peer at `url` (connected on first use), presenting `token`.
    pub fn remote(url: &str, token: &str, identity_key: IdentityKey) -> anyhow::Result<Self> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|error| {
                anyhow::anyhow!("peers.relations {url:?} is not a valid URL: {error}")
            })?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Ok(RelationsPeer::Remote {
            url: url.to_owned(),
            channel,
            token: Some(token.to_owned()).filter(|token| !token.is_empty()),
            identity_key,
        })
    }

    async fn check_purge(
        &self,
        entity: &EntityRef,
    ) -> Result<pb::CheckPurgeResponse, ContactsError> {
        let message = pb::CheckPurgeRequest {
            entity: Some(entity.clone()),
        };
        // In-process, the call carries the system's identity as it is; to
        // another process, it presents it signed.
        let mut request = RequestContext::system(liaison_contacts::SERVICE).request(message);
        let (answer, url) = match self {
            RelationsPeer::Local(service) => (service.check_purge(request).await, "in-process"),
            RelationsPeer::Remote {
                url,
                channel,
                token,
                identity_key,
            } => {
                let signed = identity_key.sign(
                    &format!("system:{}", liaison_contacts::SERVICE),
                    SYSTEM_ROLE,
                    SystemTime::now(),
                );
                let value = signed
                    .parse()
                    .map_err(|_| ContactsError::Internal("signed identity is not ASCII".into()))?;
                request.metadata_mut().insert(IDENTITY_METADATA_KEY, value);
                if let Some(token) = token {
                    let value = format!("Bearer {token}")
                        .parse()
                        .map_err(|_| ContactsError::Internal("internal token is not ASCII".into()))?;
                    request.metadata_mut().insert("authorization", value);
                }
                let mut client = RelationServiceClient::new(channel.clone());
                (client.check_purge(request).await, url.as_str())
            }
            RelationsPeer::Unconfigured => {
                return Err(ContactsError::Unavailable(
                    "the relations service does not run in this process and peers.relations is not set: \
                     cannot ask it whether the contact may be purged"
                        .into(),
                ))
            }
        };
        answer.map(tonic::Response::into_inner).map_err(|status| {
            ContactsError::Unavailable(format!(
                "the relations service ({url}) did not answer whether the contact may be purged: {}",
                status.message()
            ))
        })
    }
}

#[async_trait]
impl liaison_contacts::PurgeGuard for RelationsPeer {
    async fn objection(&self, entity: &EntityRef) -> Result<Option<String>, ContactsError> {
        let verdict = self.check_purge(entity).await?;
        Ok((!verdict.allowed).then_some(verdict.reason))
    }
}
