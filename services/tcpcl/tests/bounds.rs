//! The decoder's limits at their exact values (found by mutation testing, docs/research.md,
//! "Mutation testing"): a length equal to the limit is accepted, one more is refused.

use tileos_tcpcl::msg::{self, DecodeError, Limits, Message};

fn sess_init(ext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Message::SessInit { keepalive: 1, segment_mru: 100, transfer_mru: 100, node_id: b"n".to_vec(), extensions: ext.to_vec() }
        .encode(&mut out);
    out
}

#[test]
fn a_sess_init_whose_extensions_are_exactly_the_limit_is_decoded() {
    let limits = Limits { segment_mru: 100, max_extensions: 8 };
    let exact = sess_init(&[0xAB; 8]);
    let Ok(Some((Message::SessInit { extensions, .. }, length))) = msg::decode(&exact, &limits) else {
        panic!("a SESS_INIT with 8 bytes of extensions under a limit of 8 was not decoded")
    };
    assert_eq!((extensions, length), (vec![0xAB; 8], exact.len()));
    assert_eq!(msg::decode(&sess_init(&[0xAB; 9]), &limits), Err(DecodeError::ExtensionsTooLarge));
}

fn segment(flags: u8, ext: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    msg::encode_segment(&mut out, flags, 7, ext, data);
    out
}

#[test]
fn a_start_segment_whose_extensions_are_exactly_the_limit_is_decoded() {
    let limits = Limits { segment_mru: 100, max_extensions: 8 };
    let exact = segment(msg::FLAG_START, &[0xCD; 8], b"data");
    let Ok(Some((Message::XferSegment { extensions, data, .. }, length))) = msg::decode(&exact, &limits) else {
        panic!("a START segment with 8 bytes of extensions under a limit of 8 was not decoded")
    };
    assert_eq!((extensions, data, length), (vec![0xCD; 8], b"data".to_vec(), exact.len()));
    assert_eq!(msg::decode(&segment(msg::FLAG_START, &[0xCD; 9], b"data"), &limits), Err(DecodeError::ExtensionsTooLarge));
}

#[test]
fn session_errors_print_what_they_are() {
    use tileos_tcpcl::SessionError;
    let cases = [
        (SessionError::BadMagic, "contact header magic is not \"dtn!\""),
        (SessionError::VersionMismatch(3), "peer speaks TCPCL version 3, not 4"),
        (SessionError::ContactFailure("keepalive"), "unacceptable SESS_INIT: keepalive"),
        (SessionError::UnknownMessageType(0x2a), "unknown message type 0x2a"),
        (SessionError::UnexpectedMessage(0x01), "message type 0x01 before session establishment"),
        (SessionError::SegmentTooLarge, "segment exceeds our segment MRU"),
        (SessionError::ExtensionsTooLarge, "extension items exceed our limit"),
        (SessionError::IdleTimeout, "no message within twice the keepalive"),
        (SessionError::UnexpectedEof, "connection closed mid-session"),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
