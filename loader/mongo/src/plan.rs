//! What an upsert batch writes, decided apart from the server: given the stored resources the batch
//! may touch (read in its transaction by id and by (namespace, name)), the same rules as every store
//! (`weir_loader::resolve_id`: an entry needs a name or an id, a name used by another id is a
//! duplicate, an unchanged resource is no change), entry after entry, each seeing the ones before it.
//! A resource keeps its first-write `order`; new ones get slots numbered from 0, turned into order
//! numbers by the one counter update of the transaction.

use std::collections::HashMap;

use uuid::Uuid;
use weir_loader::{resolve_id, Keyed, Op, StoreError};

/// A stored resource (its id set) and its write order, if it has one.
#[derive(Debug, Clone)]
pub struct Existing<T> {
    pub item: T,
    pub order: Option<i64>,
}

/// Where a written resource sits in write order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Its stored order, kept.
    Kept(i64),
    /// The n-th resource (from 0) of this batch to need a number.
    New(i64),
}

/// One document to write, and the change it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Write<T> {
    pub op: Op,
    /// With its id set.
    pub item: T,
    pub order: Order,
}

/// The writes of a batch, and how many new order numbers they need.
#[derive(Debug)]
pub struct Plan<T> {
    pub writes: Vec<Write<T>>,
    pub new_orders: i64,
}

/// Plans upserting `items` over `existing`: all or none (the first bad entry is the error).
pub fn plan<T: Keyed>(existing: Vec<Existing<T>>, items: Vec<T>) -> Result<Plan<T>, StoreError> {
    // id → (resource, its order; `None` for a stored one written without).
    let mut by_id: HashMap<Uuid, (T, Option<Order>)> = HashMap::new();
    let mut by_name: HashMap<(String, String), Uuid> = HashMap::new();
    for e in existing {
        let Some(id) = e.item.id() else { continue };
        if let Some(name) = e.item.name() {
            by_name.insert((e.item.namespace().to_string(), name.to_string()), id);
        }
        by_id.insert(id, (e.item, e.order.map(Order::Kept)));
    }
    let mut writes = Vec::new();
    let mut new_orders = 0;
    for (index, mut item) in items.into_iter().enumerate() {
        let id = resolve_id(&item, index, |ns, name| {
            Ok(by_name.get(&(ns.to_string(), name.to_string())).copied())
        })?;
        item.set_id(id);
        let (op, order) = match by_id.get(&id) {
            Some((old, _)) if *old == item => continue,
            Some((_, Some(order))) => (Op::Swap, *order),
            Some((_, None)) => (Op::Swap, next_slot(&mut new_orders)),
            None => (Op::Store, next_slot(&mut new_orders)),
        };
        if let Some((old, _)) = by_id.get(&id) {
            if let Some(name) = old.name() {
                by_name.remove(&(old.namespace().to_string(), name.to_string()));
            }
        }
        if let Some(name) = item.name() {
            by_name.insert((item.namespace().to_string(), name.to_string()), id);
        }
        by_id.insert(id, (item.clone(), Some(order)));
        writes.push(Write { op, item, order });
    }
    Ok(Plan { writes, new_orders })
}

fn next_slot(count: &mut i64) -> Order {
    let slot = *count;
    *count += 1;
    Order::New(slot)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
