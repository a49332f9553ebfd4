//! Host side (feature `std`): a blocking client over a `TcpStream` (what `tilectl` uses),
//! and [`serve`], which runs an [`Agent`] over a `TcpListener` with one thread per
//! connection (what tests use as a fake tile).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use std::vec::Vec;
use std::{format, vec};

use ed25519_dalek::SigningKey;

use crate::entropy::ChallengeSource;
use crate::session::{Agent, Backend, Connect, Flow};
use crate::{Answer, CHALLENGE_BYTES, ClientFrame, Command, LENGTH_BYTES, MAX_FRAME, ServerFrame, VERSION, WireError, auth, frame};

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Connecting, reading or writing failed (the words of the error).
    Io(String),
    /// The agent sent something outside the protocol.
    Protocol(String),
    /// The agent refused a frame or closed the connection, with this error.
    Refused(WireError),
    /// The agent speaks another version.
    Version(u16),
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "connection: {error}"),
            ClientError::Protocol(error) => write!(f, "protocol: {error}"),
            ClientError::Refused(error) => write!(f, "agent refused: {error}"),
            ClientError::Version(version) => write!(f, "agent speaks protocol version {version}, this tilectl {VERSION}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A connection to an agent.
pub struct Client {
    /// The stream.
    stream: TcpStream,
    /// The connection's challenge.
    challenge: [u8; CHALLENGE_BYTES],
    /// The next command's counter.
    counter: u64,
    /// The operator key, if given.
    key: Option<SigningKey>,
}

fn io(error: std::io::Error) -> ClientError {
    ClientError::Io(error.to_string())
}

/// Reads one frame body.
fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, ClientError> {
    let mut prefix = [0u8; LENGTH_BYTES];
    stream.read_exact(&mut prefix).map_err(|error| match error.kind() {
        std::io::ErrorKind::UnexpectedEof => ClientError::Io("the agent closed the connection".into()),
        _ => io(error),
    })?;
    let length = u32::from_be_bytes(prefix);
    if length == 0 || length as usize > MAX_FRAME {
        return Err(ClientError::Protocol(format!("frame length {length} outside 1..={MAX_FRAME}")));
    }
    let mut body = vec![0u8; length as usize];
    stream.read_exact(&mut body).map_err(io)?;
    Ok(body)
}

impl Client {
    /// Connects to the agent at `address` (`HOST:PORT`), waits for its hello, and signs
    /// privileged commands with `key`. Every read and write gives up after `timeout`.
    pub fn connect(address: &str, key: Option<SigningKey>, timeout: Duration) -> Result<Self, ClientError> {
        use std::net::ToSocketAddrs;
        let addresses: Vec<_> = address.to_socket_addrs().map_err(|error| ClientError::Io(format!("{address}: {error}")))?.collect();
        let mut last = ClientError::Io(format!("{address}: no address"));
        for socket in addresses {
            match TcpStream::connect_timeout(&socket, timeout) {
                Ok(mut stream) => {
                    stream.set_read_timeout(Some(timeout)).map_err(io)?;
                    stream.set_write_timeout(Some(timeout)).map_err(io)?;
                    let body = read_frame(&mut stream)?;
                    return match frame::decode::<ServerFrame>(&body) {
                        Ok(ServerFrame::Hello(hello)) if hello.version == VERSION => {
                            Ok(Self { stream, challenge: hello.challenge, counter: 0, key })
                        }
                        Ok(ServerFrame::Hello(hello)) => Err(ClientError::Version(hello.version)),
                        Ok(ServerFrame::Error(error)) => Err(ClientError::Refused(error)),
                        Ok(other) => Err(ClientError::Protocol(format!("expected a hello, got {other:?}"))),
                        Err(error) => Err(ClientError::Protocol(format!("hello: {error}"))),
                    };
                }
                Err(error) => last = ClientError::Io(format!("{socket}: {error}")),
            }
        }
        Err(last)
    }

    /// Whether privileged commands will be signed.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Sends `command` (signed when it is privileged and a key was given) and returns the
    /// agent's answer.
    pub fn call(&mut self, command: Command) -> Result<Answer, ClientError> {
        let sign = command.is_privileged();
        self.send(command, sign)
    }

    /// Sends `command` unsigned and returns the agent's answer: the chunks and the commit
    /// of an install session this connection began with a signed [`Command::Install`]
    /// (`session`, "Install sessions").
    pub fn call_in_session(&mut self, command: Command) -> Result<Answer, ClientError> {
        self.send(command, false)
    }

    /// Sends `command`, signed if `sign` and a key was given, and reads its answer.
    fn send(&mut self, command: Command, sign: bool) -> Result<Answer, ClientError> {
        let counter = self.counter;
        let signature = match &self.key {
            Some(key) if sign => {
                Some(auth::sign(key, &self.challenge, counter, &command).ok_or_else(|| ClientError::Protocol("command too large".into()))?)
            }
            _ => None,
        };
        let frame = ClientFrame { counter, command, signature };
        self.counter += 1;
        let bytes = frame::encode(&frame).ok_or_else(|| ClientError::Protocol("command too large".into()))?;
        self.stream.write_all(&bytes).map_err(io)?;
        let body = read_frame(&mut self.stream)?;
        match frame::decode::<ServerFrame>(&body) {
            Ok(ServerFrame::Answer { counter: answered, answer }) if answered == counter => Ok(answer),
            Ok(ServerFrame::Answer { counter: answered, .. }) => {
                Err(ClientError::Protocol(format!("answer to command {answered}, expected {counter}")))
            }
            Ok(ServerFrame::Error(error)) => Err(ClientError::Refused(error)),
            Ok(ServerFrame::Hello(_)) => Err(ClientError::Protocol("a second hello".into())),
            Err(error) => Err(ClientError::Protocol(format!("answer: {error}"))),
        }
    }

    /// Writes raw bytes to the agent (tests of hostile input).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).map_err(io)
    }

    /// Reads one raw frame from the agent (tests of hostile input).
    pub fn read_server_frame(&mut self) -> Result<ServerFrame, ClientError> {
        let body = read_frame(&mut self.stream)?;
        frame::decode(&body).map_err(|error| ClientError::Protocol(error.to_string()))
    }

    /// This connection's challenge.
    pub fn challenge(&self) -> [u8; CHALLENGE_BYTES] {
        self.challenge
    }
}

/// Serves `agent` on `listener` until the listener fails: a thread per connection, the
/// agent behind a mutex (as the tile's agent, it handles one frame at a time).
pub fn serve<B: Backend + Send + 'static>(listener: TcpListener, agent: Arc<Mutex<Agent<B>>>) {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|time| time.as_nanos()).unwrap_or(0);
    let challenges = Arc::new(Mutex::new(ChallengeSource::new(&nanos.to_be_bytes())));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let agent = agent.clone();
        let challenges = challenges.clone();
        std::thread::spawn(move || {
            let challenge = challenges.lock().map(|mut source| source.challenge()).unwrap_or([0; CHALLENGE_BYTES]);
            let Ok(mut locked) = agent.lock() else { return };
            let id = match locked.connect(challenge) {
                Connect::Open(id, hello) => {
                    let _ = stream.write_all(&hello);
                    id
                }
                Connect::Busy(busy) => {
                    let _ = stream.write_all(&busy);
                    return;
                }
            };
            drop(locked);
            let mut buffer = [0u8; 2048];
            loop {
                let length = match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => {
                        if let Ok(mut agent) = agent.lock() {
                            agent.disconnect(id);
                        }
                        return;
                    }
                    Ok(length) => length,
                };
                let Ok(mut locked) = agent.lock() else { return };
                let mut out = Vec::new();
                let flow = locked.receive(id, &buffer[..length], &mut |frame: &[u8]| out.extend_from_slice(frame));
                drop(locked);
                let written = stream.write_all(&out);
                if flow == Flow::Close {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
                if written.is_err() {
                    if let Ok(mut agent) = agent.lock() {
                        agent.disconnect(id);
                    }
                    return;
                }
            }
        });
    }
}
