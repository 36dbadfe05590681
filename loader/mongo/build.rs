//! Compiles the live MongoDB tests in (`cfg(weir_mongodb_uri)`) when `WEIR_TEST_MONGODB_URI` is set,
//! so that without a server they are reported as ignored, with the reason, never as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(weir_mongodb_uri)");
    println!("cargo::rerun-if-env-changed=WEIR_TEST_MONGODB_URI");
    if std::env::var_os("WEIR_TEST_MONGODB_URI").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=weir_mongodb_uri");
    }
}
