//! Tests of channels: order, per-subscriber bounds, backpressure, cut-off, filters, namespace reach.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn v(i: i64) -> Value {
    Value::from(i)
}

#[tokio::test]
async fn every_subscriber_gets_every_event_in_order() {
    let hub = Channels::new(8);
    let topic = hub.topic("default", "news");
    let mut a = topic.subscribe();
    let mut b = hub.topic("default", "news").subscribe();
    for i in 0..5 {
        assert_eq!(topic.publish(v(i)).await, 2);
    }
    for s in [&mut a, &mut b] {
        for i in 0..5 {
            assert_eq!(s.recv().await, Some(Ok(v(i))));
        }
        assert_eq!(s.try_recv(), None);
    }
}

#[tokio::test]
async fn topics_are_per_namespace_and_name() {
    let hub = Channels::new(8);
    let mut news = hub.topic("a", "news").subscribe();
    let other_ns = hub.topic("b", "news");
    let other_name = hub.topic("a", "sport");
    assert_eq!(other_ns.publish(v(1)).await, 0);
    assert_eq!(other_name.publish(v(2)).await, 0);
    assert_eq!(news.try_recv(), None);
}

#[tokio::test]
async fn publish_waits_for_room_and_loses_nothing() {
    let hub = Channels::new(2);
    let topic = hub.topic("default", "t");
    let mut sub = topic.subscribe();
    let publisher = {
        let topic = topic.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                topic.publish(v(i)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!publisher.is_finished(), "the publisher waits at the bound");
    for i in 0..10 {
        assert_eq!(sub.recv().await, Some(Ok(v(i))));
    }
    tokio::time::timeout(Duration::from_secs(10), publisher)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn offer_cuts_off_a_full_subscriber_after_what_it_has() {
    let hub = Channels::new(2);
    let topic = hub.topic("default", "t");
    let mut slow = topic.subscribe();
    let mut fast = topic.subscribe();
    for i in 0..2 {
        assert_eq!(topic.offer(&v(i)), 2);
        assert_eq!(fast.recv().await, Some(Ok(v(i))));
    }
    assert_eq!(topic.offer(&v(2)), 1, "only the subscriber with room gets it");
    assert_eq!(fast.recv().await, Some(Ok(v(2))));
    assert_eq!(slow.recv().await, Some(Ok(v(0))));
    assert_eq!(slow.recv().await, Some(Ok(v(1))));
    assert_eq!(slow.recv().await, Some(Err(Lagged)), "told, not silently dropped");
    assert_eq!(slow.recv().await, None);
    assert_eq!(topic.subscribers(), 1);
    assert_eq!(topic.offer(&v(3)), 1);
}

#[tokio::test]
async fn a_filter_decides_what_a_subscriber_sees() {
    let hub = Channels::new(4);
    let topic = hub.topic("system", "specs");
    let mut evens = topic.subscribe_filtered(|v| v.as_i64().is_some_and(|i| i % 2 == 0));
    for i in 0..6 {
        topic.offer(&v(i));
    }
    for i in [0, 2, 4] {
        assert_eq!(evens.recv().await, Some(Ok(v(i))));
    }
    assert_eq!(evens.try_recv(), None);
}

#[tokio::test]
async fn dropped_subscribers_are_forgotten() {
    let hub = Channels::new(1);
    let topic = hub.topic("default", "t");
    let sub = topic.subscribe();
    drop(sub);
    assert_eq!(topic.subscribers(), 0);
    // A dropped subscriber with a full queue never blocks a publisher.
    let _full = {
        let s = topic.subscribe();
        topic.publish(v(0)).await;
        s
    };
    drop(_full);
    tokio::time::timeout(Duration::from_secs(10), topic.publish(v(1)))
        .await
        .unwrap();
}

#[test]
fn a_namespace_reaches_only_its_own_topics_unless_it_is_system() {
    let hub = Channels::new(4);
    let user = hub.scope("default");
    assert_eq!(user.topic("t").namespace(), "default");
    assert!(user.topic_in("default", "t").is_ok());
    let err = user.topic_in("other", "t").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("namespace default: topic \"t\" of namespace other"),
        "{err}"
    );
    let system = hub.scope("system");
    assert_eq!(system.topic_in("other", "t").unwrap().namespace(), "other");
}

#[test]
fn a_topic_lives_while_it_is_held_or_listened_to() {
    let hub = Channels::new(4);
    assert!(hub.existing("default", "t").is_none());
    let t = hub.topic("default", "t");
    assert!(hub.existing("default", "t").is_some());
    let mut sub = t.subscribe();
    drop(t);
    let later = hub.existing("default", "t").unwrap();
    assert_eq!(
        later.offer(&v(1)),
        1,
        "a listener keeps the topic for later publishers"
    );
    assert_eq!(sub.try_recv(), Some(Ok(v(1))));
    drop((sub, later));
    assert!(hub.existing("default", "t").is_none());
}
