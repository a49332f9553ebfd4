//! Client stubs and server dispatch for typed service protocols (`tileos_protocol`): a
//! client can only send its protocol's requests, and a server answers a malformed message
//! with an error reply instead of crashing.

use crate::{Message, buffer_word, raw_syscall};
use core::marker::PhantomData;
use tileos_abi::message::{LABEL_REPLY_LOST, MessageInfo};
use tileos_abi::syscall::Syscall;
use tileos_protocol::{ERROR, MESSAGE, PAYLOAD_WORDS, Protocol, ProtocolError, decode, encode};

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The request or the answer did not fit the protocol.
    Protocol(ProtocolError),
    /// The server died before answering (it is being restarted): retry.
    ServerRestarted,
}

/// All message words of a received message (registers, then IPC buffer).
fn words_of(message: &Message) -> [u64; PAYLOAD_WORDS + 1] {
    let mut words = [0; PAYLOAD_WORDS + 1];
    for (index, word) in words.iter_mut().enumerate().take(message.info.length()) {
        *word = if index < 4 { message.words[index] } else { buffer_word(index) };
    }
    words
}

/// Sends `words[..length]` with `label` on `syscall` (registers first, then IPC buffer).
fn transmit(syscall: Syscall, cptr: u64, label: u64, words: &[u64; PAYLOAD_WORDS + 1], length: usize) -> Message {
    for (index, &word) in words.iter().enumerate().take(length).skip(4) {
        crate::set_buffer_word(index, word);
    }
    raw_syscall(syscall, cptr, MessageInfo::new(label, 0, 0, length as u64), [words[0], words[1], words[2], words[3]])
}

/// A client of protocol `P` over an endpoint capability.
pub struct Client<P: Protocol> {
    endpoint: u64,
    protocol: PhantomData<P>,
}

impl<P: Protocol> Client<P> {
    /// A client calling through `endpoint`.
    pub fn new(endpoint: crate::cap::Endpoint) -> Client<P> {
        Client { endpoint: endpoint.cptr(), protocol: PhantomData }
    }

    /// Sends `request` and waits for the typed answer.
    pub fn call(&self, request: &P::Request) -> Result<P::Response, CallError> {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(request, &mut words).map_err(CallError::Protocol)?;
        let reply = transmit(Syscall::Call, self.endpoint, MESSAGE, &words, length);
        match reply.info.label() {
            LABEL_REPLY_LOST => Err(CallError::ServerRestarted),
            ERROR => Err(CallError::Protocol(ProtocolError::from_code(reply.words[0]))),
            label => decode(label, &words_of(&reply)[..reply.info.length()]).map_err(CallError::Protocol),
        }
    }
}

/// Serves protocol `P` on the endpoint capability in slot `endpoint` forever: each request
/// is decoded and passed to `handler` with the caller's badge; its answer (or error) is
/// the reply.
pub fn serve<P: Protocol>(endpoint: crate::cap::Endpoint, mut handler: impl FnMut(u64, P::Request) -> Result<P::Response, ProtocolError>) -> ! {
    let endpoint = endpoint.cptr();
    let mut message = raw_syscall(Syscall::Recv, endpoint, MessageInfo::default(), [0; 4]);
    loop {
        let words = words_of(&message);
        let answer = decode::<P::Request>(message.info.label(), &words[..message.info.length().min(words.len())])
            .and_then(|request| handler(message.badge, request));
        let mut reply = [0; PAYLOAD_WORDS + 1];
        let (label, length) = match answer.and_then(|response| encode(&response, &mut reply)) {
            Ok(length) => (MESSAGE, length),
            Err(error) => {
                reply[0] = error as u64;
                (ERROR, 1)
            }
        };
        message = transmit(Syscall::ReplyRecv, endpoint, label, &reply, length);
    }
}
