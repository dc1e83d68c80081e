//! Other services may hold a contact against its purge: the relations
//! service refuses while internal relations (set by the system, such as an
//! invoice issued to it) still point at it.

use async_trait::async_trait;
use liaison_proto::common::v1::EntityRef;

use crate::ContactsError;

#[async_trait]
pub trait PurgeGuard: Send + Sync + 'static {
    /// `None` when the entity may be purged; otherwise why not.
    async fn objection(&self, entity: &EntityRef) -> Result<Option<String>, ContactsError>;
}
