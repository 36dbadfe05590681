//! What the stores need to know of a resource to upsert it: its id, namespace and name.

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;
use weir_codecs::resource::{Spec, ValueResource};

/// A resource a store keeps by id and by (namespace, name).
pub(crate) trait Keyed: Clone + PartialEq + Serialize + DeserializeOwned {
    /// `spec` or `value`, for messages.
    const KIND: &'static str;
    fn id(&self) -> Option<Uuid>;
    fn set_id(&mut self, id: Uuid);
    fn namespace(&self) -> &str;
    fn name(&self) -> Option<&str>;
}

macro_rules! keyed {
    ($t:ty, $kind:literal) => {
        impl Keyed for $t {
            const KIND: &'static str = $kind;
            fn id(&self) -> Option<Uuid> {
                self.id
            }
            fn set_id(&mut self, id: Uuid) {
                self.id = Some(id);
            }
            fn namespace(&self) -> &str {
                &self.namespace
            }
            fn name(&self) -> Option<&str> {
                self.name.as_deref()
            }
        }
    };
}

keyed!(Spec, "spec");
keyed!(ValueResource, "value");
