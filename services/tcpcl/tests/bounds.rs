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
