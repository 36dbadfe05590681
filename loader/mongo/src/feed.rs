//! The change feed: one change stream on the database, filtered to `specs`, `values` and `charts`
//! (and the events that end a stream), followed by one task that turns each change into store
//! events through the [`Tracker`] and broadcasts them. When the stream fails (a dropped connection,
//! a failover, the server gone for a while) the task reopens it after the last token handled, with
//! a growing pause (up to [`MAX_PAUSE`]), so no event is missed or repeated; when the server no
//! longer has that point in its oplog, it opens a fresh stream, re-reads where every resource is,
//! and announces the difference ([`Tracker::resync`]).

use std::collections::HashMap;
use std::time::Duration;

use bson::{doc, Document};
use futures::TryStreamExt;
use mongodb::change_stream::event::ChangeStreamEvent;
use mongodb::change_stream::ChangeStream;
use mongodb::error::Error;
use mongodb::options::FullDocumentType;
use mongodb::Database;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_loader::{Event, Resource};

use crate::convert::{id_of, namespace_of};
use crate::schema::code;
use crate::tracker::{Position, Tracker, WATCHED};

/// The longest pause between two attempts to reopen the stream.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The first pause after the stream failed.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Server codes meaning the resume point is gone: ChangeStreamFatalError, ChangeStreamHistoryLost,
/// CappedPositionLost.
const HISTORY_LOST: [i32; 3] = [280, 286, 136];

pub type Stream = ChangeStream<ChangeStreamEvent<Document>>;

/// The stream's filter: changes to the watched collections, and the events that end a stream;
/// without the resources' bodies (the tracker needs only `_id` and `namespace`, and the bson
/// crate's `Document` would read a user's `{"$date": …}` as extended JSON and refuse the event).
pub fn pipeline() -> Vec<Document> {
    let collections: Vec<&str> = WATCHED.iter().map(|(name, _)| *name).collect();
    vec![
        doc! {"$match": {"$or": [
            {"ns.coll": {"$in": collections}},
            {"operationType": {"$in": ["dropDatabase", "invalidate"]}},
        ]}},
        doc! {"$project": {"fullDocument.body": 0, "updateDescription": 0}},
    ]
}

/// Opens the database's change stream at `position`.
pub async fn open_stream(db: &Database, position: &Position) -> Result<Stream, Error> {
    let watch = db
        .watch()
        .pipeline(pipeline())
        .full_document(FullDocumentType::UpdateLookup);
    match position {
        Position::Now => watch.await,
        Position::ResumeAfter(token) => watch.resume_after(token.clone()).await,
        Position::StartAfter(token) => watch.start_after(token.clone()).await,
    }
}

/// Where every stored resource is: (resource, id) → namespace.
pub async fn read_namespaces(db: &Database) -> Result<HashMap<(Resource, Uuid), String>, Error> {
    let mut map = HashMap::new();
    for (coll, resource) in WATCHED {
        let mut cursor = db
            .collection::<Document>(coll)
            .find(doc! {})
            .projection(doc! {"namespace": 1})
            .await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Some(id), Some(ns)) = (id_of(&d), namespace_of(&d)) {
                map.insert((resource, id), ns.to_string());
            }
        }
    }
    Ok(map)
}

/// The state of the following task.
pub struct Feed {
    pub db: Database,
    /// The store's URL, redacted, for logs.
    pub shown: String,
    pub tracker: Tracker,
    pub events: broadcast::Sender<Event>,
}

impl Feed {
    /// Follows `stream` for as long as the store lives (the task is dropped with its runtime).
    pub async fn follow(mut self, mut stream: Stream) {
        loop {
            let why = self.drain(&mut stream).await;
            tracing::warn!(store = %self.shown, "mongodb store: the change stream stopped ({why}); resuming");
            stream = self.reopen().await;
        }
    }

    fn publish(&self, events: Vec<Event>) {
        for e in events {
            // No receiver is fine: nobody watches yet.
            let _ = self.events.send(e);
        }
    }

    /// Handles changes until the stream fails or ends; returns why.
    async fn drain(&mut self, stream: &mut Stream) -> String {
        loop {
            match stream.next_if_any().await {
                Ok(Some(change)) => {
                    let reaction = self.tracker.on_event(&change);
                    self.publish(reaction.events);
                    if reaction.invalidated {
                        return "invalidated: the database was dropped".into();
                    }
                }
                Ok(None) => {
                    self.tracker.batch_end(stream.resume_token());
                    if !stream.is_alive() {
                        return "the server closed it".into();
                    }
                }
                Err(e) => return e.to_string(),
            }
        }
    }

    /// Reopens the stream where the tracker is, retrying until it works.
    async fn reopen(&mut self) -> Stream {
        let mut pause = FIRST_PAUSE;
        loop {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
            let position = self.tracker.position();
            let failure = match open_stream(&self.db, &position).await {
                Ok(stream) => {
                    self.tracker.opened_at(stream.resume_token());
                    tracing::info!(store = %self.shown, "mongodb store: change stream resumed");
                    return stream;
                }
                Err(e) if code(&e).is_some_and(|c| HISTORY_LOST.contains(&c)) => {
                    tracing::error!(store = %self.shown, "mongodb store: the change stream cannot resume ({e}); re-reading every resource");
                    match self.resync().await {
                        Ok(stream) => return stream,
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            tracing::warn!(store = %self.shown, "mongodb store: reopening the change stream: {failure}; next try in {pause:?}");
        }
    }

    /// A fresh stream, and events for what changed while none was followed.
    async fn resync(&mut self) -> Result<Stream, Error> {
        let stream = open_stream(&self.db, &Position::Now).await?;
        let fresh = read_namespaces(&self.db).await?;
        let events = self.tracker.resync(fresh);
        self.publish(events);
        self.tracker.opened_at(stream.resume_token());
        Ok(stream)
    }
}
