//! The node's metrics address (`[metrics] listen`): plain HTTP serving `GET /metrics`
//! (the exposition, in the format the `Accept` header asks for, [`super::exposition`])
//! and `GET /healthz`, for scrapers that do not hold an API token, and on nodes without
//! an API server (workers). Like
//! kube-proxy's and the kubelet's read-only metrics ports, it is meant for loopback or a
//! trusted network: it serves nothing but figures.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = "text/plain; charset=utf-8";
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let (content_type, body) = super::exposition(accept);
            respond(StatusCode::OK, content_type, body)
        }
        (&Method::GET, "/healthz") => respond(StatusCode::OK, text, "ok".into()),
        (&Method::GET, _) => respond(StatusCode::NOT_FOUND, text, "404 page not found\n".into()),
        _ => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            "only GET is served here\n".into(),
        ),
    })
}

/// Binds the metrics address.
pub async fn bind(address: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(address).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Serves the metrics address on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((s, peer)) => {
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(handle);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await
                    {
                        tracing::debug!(%peer, error = %e, "metrics connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
