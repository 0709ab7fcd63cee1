//! One echo connection, the plain way each runtime is used: read up to
//! `buf` bytes, write them all back, until EOF or an error. Shared by the
//! `net_echo` and `latency` servers.

/// coring: owned buffers, one read and one write_all per message.
pub async fn coring(stream: coring::net::TcpStream, buf: usize) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(buf);
    loop {
        let (res, b) = stream.read(buf).await;
        if !matches!(res, Ok(n) if n > 0) {
            return;
        }
        let (res, mut b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        b.clear();
        buf = b;
    }
}

/// tokio: readiness, a borrowed buffer.
pub async fn tokio(mut stream: tokio::net::TcpStream, buf: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buf];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// glommio: its futures-io stream, a borrowed buffer.
pub async fn glommio(mut stream: glommio::net::TcpStream, buf: usize) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; buf];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
