//! What the operator signs, and checking it.
//!
//! The signed bytes of a command are [`CONTEXT`], the connection's 32-byte challenge, the
//! command's counter (8 bytes, big-endian) and the `postcard` encoding of the command. The
//! agent re-encodes the command it decoded, so the signature covers the command's meaning,
//! not whichever byte string carried it. Signatures are checked with Ed25519's strict
//! verification (`verify_strict`: no small-order keys or non-canonical signatures).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::{CHALLENGE_BYTES, Command, MAX_FRAME, SIGNATURE_BYTES};

/// Domain separation: these bytes start everything an operator key signs for tilectl.
pub const CONTEXT: &[u8] = b"tileos tilectl command v1\0";

/// Largest signed message: context, challenge, counter and the largest command.
pub const MAX_SIGNED: usize = CONTEXT.len() + CHALLENGE_BYTES + 8 + MAX_FRAME;

/// The bytes an operator signs for `command` with `counter` on the connection whose
/// challenge is `challenge`. `None` if the command does not fit a frame.
pub fn signed_bytes(challenge: &[u8; CHALLENGE_BYTES], counter: u64, command: &Command) -> Option<heapless::Vec<u8, MAX_SIGNED>> {
    let mut buffer = [0u8; MAX_SIGNED];
    let head = CONTEXT.len() + CHALLENGE_BYTES + 8;
    buffer[..CONTEXT.len()].copy_from_slice(CONTEXT);
    buffer[CONTEXT.len()..CONTEXT.len() + CHALLENGE_BYTES].copy_from_slice(challenge);
    buffer[CONTEXT.len() + CHALLENGE_BYTES..head].copy_from_slice(&counter.to_be_bytes());
    let length = postcard::to_slice(command, &mut buffer[head..]).ok()?.len();
    heapless::Vec::from_slice(&buffer[..head + length]).ok()
}

/// Signs `command` for the connection with `challenge` (the client's side).
pub fn sign(
    key: &SigningKey,
    challenge: &[u8; CHALLENGE_BYTES],
    counter: u64,
    command: &Command,
) -> Option<heapless::Vec<u8, SIGNATURE_BYTES>> {
    let message = signed_bytes(challenge, counter, command)?;
    heapless::Vec::from_slice(&key.sign(&message).to_bytes()).ok()
}

/// Whether `signature` is the operator's over `command` with `counter` on the connection
/// with `challenge`.
pub fn verify(operator: &VerifyingKey, challenge: &[u8; CHALLENGE_BYTES], counter: u64, command: &Command, signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; SIGNATURE_BYTES]>::try_from(signature) else { return false };
    let Some(message) = signed_bytes(challenge, counter, command) else { return false };
    operator.verify_strict(&message, &Signature::from_bytes(&bytes)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tileos_protocol::slots::Request;

    #[test]
    fn a_signature_covers_challenge_counter_and_command() {
        let key = SigningKey::from_bytes(&crate::dev_keys::OPERATOR_SEED);
        let operator = key.verifying_key();
        let command = Command::Slot { slot: "checksum".try_into().unwrap(), request: Request::Rollback };
        let other = Command::Slot { slot: "checksum".try_into().unwrap(), request: Request::Promote { module: 1, force: true } };
        let signature = sign(&key, &[1; 32], 5, &command).unwrap();
        assert!(verify(&operator, &[1; 32], 5, &command, &signature));
        assert!(!verify(&operator, &[2; 32], 5, &command, &signature), "another connection");
        assert!(!verify(&operator, &[1; 32], 6, &command, &signature), "another counter");
        assert!(!verify(&operator, &[1; 32], 5, &other, &signature), "another command");
        assert!(!verify(&operator, &[1; 32], 5, &command, &signature[..63]), "short");
        let stranger = SigningKey::from_bytes(&[9; 32]);
        assert!(!verify(&operator, &[1; 32], 5, &command, &sign(&stranger, &[1; 32], 5, &command).unwrap()), "another key");
    }
}
