//! [`ResponseFuture`]: check, then call the inner service.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::VerifyBody;
use super::rejection::Rejection;

/// The boxed check (key store lookup and body buffering are async).
pub(crate) type CheckFuture =
    Pin<Box<dyn Future<Output = Result<Request<VerifyBody>, Rejection>> + Send>>;

pin_project! {
    /// The response future of [`Verify`](super::Verify): first the signature check, then the
    /// inner service's future (or the refusal, without calling the inner service).
    pub struct ResponseFuture<S, F> {
        #[pin]
        state: State<S, F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<S, F> {
        Checking { check: CheckFuture, service: S },
        Calling { #[pin] future: F },
        Done,
    }
}

impl<S, F> ResponseFuture<S, F> {
    pub(crate) fn new(check: CheckFuture, service: S) -> Self {
        Self {
            state: State::Checking { check, service },
        }
    }
}

impl<S, F> std::fmt::Debug for ResponseFuture<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Checking { .. } => "checking",
            State::Calling { .. } => "calling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<S, F, ResBody, E> Future for ResponseFuture<S, F>
where
    S: Service<Request<VerifyBody>, Response = Response<ResBody>, Error = E, Future = F>,
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { check, .. } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let StateReplace::Checking { mut service, .. } =
                        this.state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was `Checking` a moment ago");
                    };
                    match outcome {
                        Ok(request) => {
                            let future = service.call(request);
                            this.state.set(State::Calling { future });
                        }
                        Err(rejection) => {
                            tracing::debug!(
                                code = rejection.code(),
                                access_key_id = rejection.access_key_id().unwrap_or("-"),
                                "SigV4 verification refused a request"
                            );
                            return Poll::Ready(Ok(rejection.to_response()));
                        }
                    }
                }
                StateProj::Calling { future } => {
                    let output = ready!(future.poll(cx));
                    this.state.set(State::Done);
                    return Poll::Ready(output);
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}
