//! TCP: listeners, streams, and a stream's owned halves.

mod listener;
mod split;
mod stream;

pub use listener::{Incoming, TcpListener, TcpListenerBuilder, DEFAULT_BACKLOG};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};
pub(crate) use stream::busy;
pub use stream::TcpStream;
