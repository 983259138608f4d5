//! What each message from the stream's server means, decided without I/O:
//! pass an update on, count a frame as skipped, or end the connection —
//! to resynchronise with a hub whose state this client could no longer
//! follow exactly, or to give up on a server of another protocol version.

use chrono::{DateTime, Utc};
use tokio_tungstenite::tungstenite::Message;

use super::Server;
use crate::model::{SourceId, Update};
use crate::wire::platform;
use crate::wire::protocol::{self, Frame};

/// What to do with one message.
#[derive(Debug)]
pub(super) enum Step {
    /// Nothing to do (pings are answered by the library; pongs need nothing).
    Nothing,
    /// Count the message as skipped (the reason is logged); stay connected.
    Skip(String),
    /// Count it as skipped and reconnect: without it the store would drift
    /// from the hub's, and a reconnect brings the hub's full state again.
    Resync { skipped: String, why: String },
    /// A hub's greeting.
    Hello { server: String, window_secs: u64 },
    /// Pass `update` on; it came from this kind of server.
    Apply { from: Server, update: Update },
    /// The server speaks another major protocol version: give up for a while.
    Refuse(String),
    /// The server closed the connection.
    Closed(String),
}

/// Decide what `msg` means from a server currently known as `server`;
/// text longer than `max_bytes` is not even parsed. `now` dates updates.
pub(super) fn classify(server: Server, msg: Message, max_bytes: usize, now: DateTime<Utc>) -> Step {
    match msg {
        Message::Text(t) if t.len() > max_bytes => over_limit(server),
        Message::Text(t) => frame(server, protocol::parse(t.as_str()), now),
        Message::Binary(_) => Step::Skip("binary frame".into()),
        Message::Close(f) => Step::Closed(
            f.map(|f| {
                format!(
                    "the server closed the stream: {} ({})",
                    f.reason,
                    u16::from(f.code)
                )
            })
            .unwrap_or_else(|| "the server closed the stream".into()),
        ),
        _ => Step::Nothing,
    }
}

fn over_limit(server: Server) -> Step {
    let skipped = "over the size limit".to_string();
    if server == Server::Hub {
        // A hub frame may have been an update: without it the store would
        // drift from the hub's. Resync.
        Step::Resync {
            skipped,
            why: "a hub message over the size limit was skipped; resynchronising".into(),
        }
    } else {
        Step::Skip(skipped)
    }
}

/// What one parsed frame means.
fn frame(server: Server, f: Frame, now: DateTime<Utc>) -> Step {
    match f {
        Frame::Hello {
            server,
            window_secs,
        } => Step::Hello {
            server,
            window_secs,
        },
        Frame::Update(u) => match *u {
            // Our own slot in the store is ours to fill.
            Update::Source(s) if s.id == SourceId::Stream => {
                Step::Skip("stream status from the server".into())
            }
            mut u => {
                if protocol::sanitize(&mut u, now) {
                    Step::Apply {
                        from: Server::Hub,
                        update: u,
                    }
                } else {
                    // Applying later updates without this one would drift
                    // from the hub's state: resynchronise.
                    Step::Resync {
                        skipped: "update dated out of range".into(),
                        why: "a hub update was out of range and skipped; resynchronising".into(),
                    }
                }
            }
        },
        Frame::SystemHealth(h) => Step::Apply {
            from: Server::Platform,
            update: Update::Batch(Box::new(platform::to_batch(&h, now))),
        },
        Frame::Unsupported {
            version,
            hello: true,
        } => Step::Refuse(format!(
            "the server speaks jfmon hub protocol v{version}; this jfmon understands v{} — use a matching jfmon version",
            protocol::VERSION
        )),
        Frame::Unsupported { .. } => Step::Skip("unsupported protocol version".into()),
        Frame::Unknown { kind } => Step::Skip(format!("unknown type {kind}")),
        Frame::Malformed(e) => {
            let skipped = format!("malformed: {}", crate::redact::without_quoted(&e));
            if server == Server::Hub {
                Step::Resync {
                    skipped,
                    why: "a malformed hub message was skipped; resynchronising".into(),
                }
            } else {
                Step::Skip(skipped)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Batch, SourceStatus};
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    fn now() -> DateTime<Utc> {
        "2026-05-01T12:00:00Z".parse().unwrap()
    }

    fn text(s: &str) -> Message {
        Message::text(s)
    }

    fn run(server: Server, msg: Message) -> Step {
        classify(server, msg, 1 << 20, now())
    }

    fn hub_update(u: &Update) -> Message {
        Message::text(protocol::encode_update(u))
    }

    fn batch(at: DateTime<Utc>) -> Batch {
        Batch {
            now: at,
            window_secs: 900,
            ..Batch::default()
        }
    }

    const ALL: [Server; 3] = [Server::Disconnected, Server::Hub, Server::Platform];

    #[test]
    fn malformed_text_resyncs_a_hub_and_is_skipped_otherwise() {
        let msg = || text("{\"v\":2,\"type\":\"update\",\"update\":42}");
        match run(Server::Hub, msg()) {
            Step::Resync { skipped, why } => {
                assert!(skipped.starts_with("malformed: "), "{skipped}");
                assert!(why.contains("resynchronising"), "{why}");
            }
            s => panic!("hub: {s:?}"),
        }
        for server in [Server::Disconnected, Server::Platform] {
            assert!(
                matches!(run(server, msg()), Step::Skip(ref w) if w.starts_with("malformed: ")),
                "{server:?}"
            );
        }
    }

    #[test]
    fn oversized_text_resyncs_a_hub_and_is_skipped_otherwise() {
        let big = text(&"x".repeat(101));
        assert!(matches!(
            classify(Server::Hub, big.clone(), 100, now()),
            Step::Resync { ref why, .. } if why.contains("over the size limit")
        ));
        for server in [Server::Disconnected, Server::Platform] {
            assert!(matches!(
                classify(server, big.clone(), 100, now()),
                Step::Skip(ref w) if w == "over the size limit"
            ));
        }
        // At the limit it is still read.
        let hello = protocol::encode_hello(900);
        let exact = hello.len();
        assert!(matches!(
            classify(Server::Hub, text(&hello), exact, now()),
            Step::Hello {
                window_secs: 900,
                ..
            }
        ));
    }

    #[test]
    fn an_update_dated_out_of_range_resyncs_from_any_server() {
        let b = batch(now() + chrono::TimeDelta::days(400));
        let msg = hub_update(&Update::Batch(Box::new(b)));
        for server in ALL {
            assert!(
                matches!(run(server, msg.clone()), Step::Resync { ref skipped, .. } if skipped == "update dated out of range"),
                "{server:?}"
            );
        }
    }

    #[test]
    fn hub_updates_are_applied_and_mark_the_server_a_hub() {
        let msg = hub_update(&Update::Batch(Box::new(batch(now()))));
        for server in ALL {
            match run(server, msg.clone()) {
                Step::Apply {
                    from: Server::Hub,
                    update: Update::Batch(b),
                } => assert_eq!(b.now, now()),
                s => panic!("{server:?}: {s:?}"),
            }
        }
    }

    #[test]
    fn the_hubs_view_of_our_own_stream_slot_is_skipped() {
        let own = SourceStatus::new(SourceId::Stream, "elsewhere");
        assert!(matches!(
            run(Server::Hub, hub_update(&Update::Source(own))),
            Step::Skip(ref w) if w == "stream status from the server"
        ));
        let db = SourceStatus::new(SourceId::Postgres, "db");
        assert!(matches!(
            run(Server::Hub, hub_update(&Update::Source(db))),
            Step::Apply { from: Server::Hub, update: Update::Source(ref s) } if s.id == SourceId::Postgres
        ));
    }

    #[test]
    fn system_health_is_a_platform_reset() {
        let msg = text(r#"{"type":"system_health","data":{"active_sessions":3}}"#);
        match run(Server::Disconnected, msg) {
            Step::Apply {
                from: Server::Platform,
                update: Update::Batch(b),
            } => assert!(b.reset),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn another_protocol_version_is_refused_only_in_its_greeting() {
        let hello = text(r#"{"v":3,"type":"hello","server":"x","window_secs":900}"#);
        assert!(matches!(
            run(Server::Disconnected, hello),
            Step::Refuse(ref w) if w.contains("v3") && w.contains("understands v2")
        ));
        let later = text(r#"{"v":3,"type":"update","update":{}}"#);
        assert!(matches!(
            run(Server::Hub, later),
            Step::Skip(ref w) if w == "unsupported protocol version"
        ));
    }

    #[test]
    fn unknown_binary_close_and_control_frames() {
        assert!(matches!(
            run(Server::Hub, text(r#"{"v":2,"type":"gossip"}"#)),
            Step::Skip(ref w) if w == "unknown type gossip"
        ));
        assert!(matches!(
            run(Server::Hub, Message::binary(vec![1, 2, 3])),
            Step::Skip(ref w) if w == "binary frame"
        ));
        assert!(matches!(
            run(Server::Hub, Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "bye".into() }))),
            Step::Closed(ref w) if w == "the server closed the stream: bye (1001)"
        ));
        assert!(matches!(
            run(Server::Hub, Message::Close(None)),
            Step::Closed(ref w) if w == "the server closed the stream"
        ));
        assert!(matches!(
            run(Server::Hub, Message::Ping(vec![1].into())),
            Step::Nothing
        ));
    }
}
