//! Whether the local stack is there for tests that need it.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::stores::StoreEndpoints;

/// True when stack tests should run. False (with a loud note) only when
/// `REDSTREAM_SKIP_STACK_TESTS=1`; otherwise a missing stack panics with the fix, so that a CI
/// run without servers can never pass by testing nothing. Addresses come from the same
/// variables the stages read, defaulting to `scripts/stack up`.
pub fn require_stack(test: &str) -> bool {
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        eprintln!("\n*** SKIPPED {test}: REDSTREAM_SKIP_STACK_TESTS=1; nothing was checked ***\n");
        return false;
    }
    let stores = StoreEndpoints::from_env();
    let brokers =
        std::env::var("REDSTREAM_KAFKA__BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let kafka = brokers.split(',').next().unwrap_or_default();
    let search = stores
        .search
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    for (name, addr) in [
        ("Kafka", kafka),
        ("CQL", stores.cql.as_str()),
        ("search", search),
    ] {
        let Some(sock) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
            panic!("{test}: cannot resolve the {name} address {addr}");
        };
        if TcpStream::connect_timeout(&sock, Duration::from_secs(2)).is_err() {
            panic!(
                "{test} needs the local stack but {name} at {addr} does not answer: run \
                 `scripts/stack up` (or set REDSTREAM_SKIP_STACK_TESTS=1 to skip)"
            );
        }
    }
    true
}
