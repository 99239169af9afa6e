//! Whether the local stack is there for tests that need it.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// True when stack tests should run. False (with a loud note) only when
/// `REDSTREAM_SKIP_STACK_TESTS=1`; otherwise a missing stack panics with the fix, so that a CI
/// run without servers can never pass by testing nothing.
pub fn require_stack(test: &str) -> bool {
    if std::env::var("REDSTREAM_SKIP_STACK_TESTS").as_deref() == Ok("1") {
        eprintln!("\n*** SKIPPED {test}: REDSTREAM_SKIP_STACK_TESTS=1; nothing was checked ***\n");
        return false;
    }
    for (name, addr) in [
        ("Kafka", "127.0.0.1:9092"),
        ("CQL", "127.0.0.1:9042"),
        ("search", "127.0.0.1:9200"),
    ] {
        let Ok(sock) = addr.parse::<SocketAddr>() else {
            continue;
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
