//! What every stored resource has: an id (filled in when absent), a namespace and a name. The stores
//! (upserts by id or (namespace, name)), the CLI and the `system` API all key resources by these.

use uuid::Uuid;

use super::{Chart, Spec, ValueResource};

/// A resource's identity.
pub trait Identity {
    fn id(&self) -> Option<Uuid>;
    fn set_id(&mut self, id: Uuid);
    fn namespace(&self) -> &str;
    /// The name, `None` when it has none (a chart's empty name counts as none).
    fn name(&self) -> Option<&str>;
}

macro_rules! identity {
    ($t:ty) => {
        impl Identity for $t {
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

identity!(Spec);
identity!(ValueResource);

impl Identity for Chart {
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
        Some(self.name.as_str()).filter(|n| !n.is_empty())
    }
}
