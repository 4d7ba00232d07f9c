//! The SDK's HTTP connector: each request through the shared [`Transport`] (one connection
//! per request, the deadline, the bytes that went out), its [`Failure`] carried inside the
//! SDK's error so the sender can read how far a failed request got.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::Full;

use crate::sink::net::{Deadline, Failure, Transport, Written};

#[derive(Clone, Debug)]
pub(crate) struct OneShot {
    transport: Transport,
}

impl OneShot {
    pub(crate) fn new(deadline: Deadline, written: Written) -> Self {
        Self {
            transport: Transport::new(deadline, written),
        }
    }

    async fn call_once(self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let request = request
            .try_into_http1x()
            .map_err(|e| ConnectorError::user(Box::new(e)))?;
        let (parts, body) = request.into_parts();
        let body = Bytes::copy_from_slice(body.bytes().unwrap_or_default());
        let request = http::Request::from_parts(parts, Full::new(body));
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|failure| ConnectorError::io(Box::new(failure)))?;
        let (parts, body) = response.into_parts();
        HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from(body)))
            .map_err(|e| ConnectorError::other(Box::new(e), None))
    }
}

impl HttpConnector for OneShot {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(self.clone().call_once(request))
    }
}

impl HttpClient for OneShot {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// How far a failed request got, from the transport's error inside an SDK error.
pub(crate) fn failure_of(error: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(f) = e.downcast_ref::<Failure>() {
            return Some(*f);
        }
        source = e.source();
    }
    None
}
