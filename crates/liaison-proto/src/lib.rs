//! Generated protobuf and gRPC code for every Liaison service. The `.proto`
//! files under `proto/` are the single source of truth; nothing here is edited
//! by hand.

/// Encoded `FileDescriptorSet` of every Liaison proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/liaison_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("liaison.common.v1");

        impl EntityRef {
            pub fn new(kind: &str, id: impl Into<String>) -> Self {
                EntityRef {
                    kind: kind.to_owned(),
                    id: id.into(),
                }
            }
        }
    }
}

/// The kinds of entity, `<service>.<kind>`, as an `EntityRef` names them in
/// every service: the owning service's name, then the entity's.
pub mod kinds {
    pub const PERSON: &str = "contacts.person";
    pub const ORGANISATION: &str = "contacts.organisation";
    pub const CATEGORY: &str = "contacts.category";
    pub const RELATION_TYPE: &str = "relations.relation_type";
    pub const RELATION: &str = "relations.relation";
    pub const USER: &str = "gateway.user";
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("liaison.events.v1");
    }
}

pub mod contacts {
    pub mod v1 {
        #![allow(clippy::large_enum_variant)]
        tonic::include_proto!("liaison.contacts.v1");
    }
}

pub mod relations {
    pub mod v1 {
        tonic::include_proto!("liaison.relations.v1");
    }
}

pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("liaison.gateway.v1");
    }
}

pub use prost;
pub use prost_types;
