//! Client stubs and server dispatch for typed service protocols (`tileos_protocol`): a
//! client can only send its protocol's requests, and a server answers a malformed message
//! with an error reply instead of crashing.

use crate::{Message, buffer_word, raw_syscall};
use core::marker::PhantomData;
use tileos_abi::message::{LABEL_IPC_ABORTED, LABEL_REPLY_LOST, MessageInfo};
use tileos_abi::syscall::Syscall;
use tileos_protocol::{ERROR, MESSAGE, PAYLOAD_WORDS, Protocol, ProtocolError, decode, encode};

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The request or the answer did not fit the protocol.
    Protocol(ProtocolError),
    /// The server died before answering (its reply capability was lost): it is being
    /// restarted; retry.
    ServerRestarted,
}

/// All message words of a received message (registers, then IPC buffer).
pub(crate) fn words_of(message: &Message) -> [u64; PAYLOAD_WORDS + 1] {
    let mut words = [0; PAYLOAD_WORDS + 1];
    for (index, word) in words.iter_mut().enumerate().take(message.info.length()) {
        *word = if index < 4 { message.words[index] } else { buffer_word(index) };
    }
    words
}

/// Sends `words[..length]` with `label` on `syscall` (registers first, then IPC buffer).
pub(crate) fn transmit(syscall: Syscall, cptr: u64, label: u64, words: &[u64; PAYLOAD_WORDS + 1], length: usize) -> Message {
    for (index, &word) in words.iter().enumerate().take(length).skip(4) {
        crate::set_buffer_word(index, word);
    }
    raw_syscall(syscall, cptr, MessageInfo::new(label, 0, 0, length as u64), [words[0], words[1], words[2], words[3]])
}

/// Whether `label` is the kernel's error for a call through a capability that is not an
/// endpoint one may call (empty slot, or another object).
pub(crate) fn is_lookup_error(label: u64) -> bool {
    use tileos_abi::error::InvocationError;
    label == InvocationError::FailedLookup as u64 || label == InvocationError::InvalidCapability as u64
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

    /// Sends `request` and waits for the typed answer. The call's latency (encoding,
    /// round trip and decoding) is recorded in the domain's telemetry
    /// ([`crate::telemetry`]).
    #[inline]
    pub fn call(&self, request: &P::Request) -> Result<P::Response, CallError> {
        let start = crate::telemetry::call_start();
        let result = self.call_unrecorded(request);
        crate::telemetry::record_call(start);
        result
    }

    /// The same call without recording it in the domain's telemetry: what the benchmark
    /// `rpc_call_cross_as_unrecorded` measures, so that the cost of recording is the
    /// difference of two measured figures (docs/telemetry.md).
    pub fn call_unrecorded(&self, request: &P::Request) -> Result<P::Response, CallError> {
        let mut words = [0; PAYLOAD_WORDS + 1];
        let length = encode(request, &mut words).map_err(CallError::Protocol)?;
        let reply = transmit(Syscall::Call, self.endpoint, MESSAGE, &words, length);
        match reply.info.label() {
            LABEL_REPLY_LOST => Err(CallError::ServerRestarted),
            // The endpoint was destroyed while the call waited (the root server withdraws the
            // endpoints of a server that did not start), or the capability is gone: a kernel
            // error label (FailedLookup, InvalidCapability) instead of a reply.
            LABEL_IPC_ABORTED => Err(CallError::Protocol(ProtocolError::NoServer)),
            label if is_lookup_error(label) => Err(CallError::Protocol(ProtocolError::NoServer)),
            ERROR => Err(CallError::Protocol(ProtocolError::from_code(reply.words[0]))),
            label => decode(label, &words_of(&reply)[..reply.info.length()]).map_err(CallError::Protocol),
        }
    }
}

/// Sends a raw message (any label and words, as a hostile client would) to the endpoint
/// `cptr` and returns the protocol error its server answered with, or `None` if it answered
/// anything but an error reply: the hostile-client checks of the boot tests.
pub fn raw_call_error(cptr: u64, label: u64, words: &[u64]) -> Option<ProtocolError> {
    let reply = crate::call(cptr, label, words, &[]);
    (reply.info.label() == ERROR).then(|| ProtocolError::from_code(reply.words[0]))
}

/// Decodes a received message as a request of protocol `P` (for servers with a receive loop
/// of their own, such as the root server's supervisor).
pub fn decode_request<P: Protocol>(message: &Message) -> Result<P::Request, ProtocolError> {
    let words = words_of(message);
    decode::<P::Request>(message.info.label(), &words[..message.info.length().min(words.len())])
}

/// Answers a caller of protocol `P` with `answer` (or its error reply), without blocking:
/// through the reply capability in slot `saved` (moved there with `CNodeSaveCaller`), or,
/// with `None`, through this thread's reply slot. A caller that is gone gets nothing.
pub fn answer<P: Protocol>(saved: Option<u64>, answer: Result<P::Response, ProtocolError>) {
    let mut reply = [0; PAYLOAD_WORDS + 1];
    let (label, length) = encode_answer::<P>(answer, &mut reply);
    match saved {
        Some(slot) => transmit(Syscall::NbSend, slot, label, &reply, length),
        None => transmit(Syscall::Reply, 0, label, &reply, length),
    };
}

/// Answers this thread's caller of protocol `P` with `answer` (or its error reply) and waits
/// for the next message on `endpoint`, in one system call: the loop of a server that also
/// takes notifications bound to its thread (a message with label 0 and no words is one) and
/// so cannot use [`serve`].
pub fn answer_and_recv<P: Protocol>(endpoint: crate::cap::Endpoint, answer: Result<P::Response, ProtocolError>) -> Message {
    let mut reply = [0; PAYLOAD_WORDS + 1];
    let (label, length) = encode_answer::<P>(answer, &mut reply);
    transmit(Syscall::ReplyRecv, endpoint.cptr(), label, &reply, length)
}

/// Encodes an answer (or its error reply) into `reply`: returns label and length.
fn encode_answer<P: Protocol>(answer: Result<P::Response, ProtocolError>, reply: &mut [u64; PAYLOAD_WORDS + 1]) -> (u64, usize) {
    match answer.and_then(|response| encode(&response, reply)) {
        Ok(length) => (MESSAGE, length),
        Err(error) => {
            reply[0] = error as u64;
            (ERROR, 1)
        }
    }
}

/// Serves protocol `P` on the endpoint capability in slot `endpoint` forever: each request
/// is decoded and passed to `handler` with the caller's badge; its answer (or error) is
/// the reply.
pub fn serve<P: Protocol>(
    endpoint: crate::cap::Endpoint,
    mut handler: impl FnMut(u64, P::Request) -> Result<P::Response, ProtocolError>,
) -> ! {
    let endpoint = endpoint.cptr();
    let mut message = raw_syscall(Syscall::Recv, endpoint, MessageInfo::default(), [0; 4]);
    loop {
        let words = words_of(&message);
        let answer = decode::<P::Request>(message.info.label(), &words[..message.info.length().min(words.len())])
            .and_then(|request| handler(message.badge, request));
        let mut reply = [0; PAYLOAD_WORDS + 1];
        let (label, length) = encode_answer::<P>(answer, &mut reply);
        message = transmit(Syscall::ReplyRecv, endpoint, label, &reply, length);
    }
}
