#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn a_password_never_shows() {
    assert_eq!(
        redact("mongodb://weir:s3cret@db1:27017,db2/weir?replicaSet=rs0"),
        "mongodb://weir:***@db1:27017,db2/weir?replicaSet=rs0"
    );
    assert_eq!(
        redact("mongodb+srv://admin:p%40ss@cluster0.example.net"),
        "mongodb+srv://admin:***@cluster0.example.net"
    );
    assert_eq!(redact("mongodb://user@host/db"), "mongodb://user@host/db");
    assert_eq!(redact("mongodb://127.0.0.1:27017"), "mongodb://127.0.0.1:27017");
    assert_eq!(
        redact("mongodb://h/db?authMechanism=MONGODB-X509&x=a@b"),
        "mongodb://h/db?authMechanism=MONGODB-X509&x=a@b",
        "an @ after the hosts is no credential"
    );
}

#[test]
fn replica_set_members_and_mongos_are_accepted() {
    let shown = "mongodb://127.0.0.1:27017";
    check_replica_set(shown, &doc! {"isWritablePrimary": true, "setName": "rs0"}).unwrap();
    check_replica_set(shown, &doc! {"isWritablePrimary": true, "msg": "isdbgrid"}).unwrap();
}

#[test]
fn a_standalone_server_is_refused_with_what_to_do() {
    let shown = "mongodb://weir:***@127.0.0.1:27017/weir";
    let e = check_replica_set(shown, &doc! {"isWritablePrimary": true, "maxWireVersion": 21})
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"mongodb://weir:***@127.0.0.1:27017/weir\""), "{e}");
    assert!(e.contains("standalone mongod, not a replica set"), "{e}");
    assert!(e.contains("--replSet rs0") && e.contains("rs.initiate()"), "{e}");
    assert!(e.contains("sqlite://PATH"), "{e}");
}

#[test]
fn an_uninitiated_replica_set_is_named_as_such() {
    let e = check_replica_set(
        "mongodb://h",
        &doc! {"isWritablePrimary": false, "isreplicaset": true},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("not initiated yet") && e.contains("rs.initiate()"),
        "{e}"
    );
}

/// A port that was just free: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn no_server_is_a_clear_error_naming_the_url() {
    let url = format!(
        "mongodb://weir:hunter2@127.0.0.1:{}/fleet?serverSelectionTimeoutMS=300",
        closed_port()
    );
    let e = connect(&url, None).await.unwrap_err().to_string();
    assert!(!e.contains("hunter2"), "the password leaked: {e}");
    assert!(e.contains(&format!("\"{}\"", redact(&url))), "names the URL: {e}");
    assert!(e.contains("no MongoDB server answered within 300ms"), "{e}");
    assert!(e.contains("--replSet rs0") && e.contains("rs.initiate()"), "{e}");
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let e = connect("mongodb://", None).await.unwrap_err().to_string();
    assert!(
        e.contains("MongoDB at \"mongodb://\": not a usable MongoDB URL"),
        "{e}"
    );
}
