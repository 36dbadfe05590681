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

/// Implements [`Identity`] for a resource with `id` and `namespace` fields; the expression after `|r|` reads its name.
macro_rules! identity {
    ($t:ty, |$r:ident| $name:expr) => {
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
                let $r = self;
                $name
            }
        }
    };
}

identity!(Spec, |s| s.name.as_deref());
identity!(ValueResource, |v| v.name.as_deref());
// A chart's empty name counts as none.
identity!(Chart, |c| Some(c.name.as_str()).filter(|n| !n.is_empty()));
