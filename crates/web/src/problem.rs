//! Errors as RFC 9457 `application/problem+json`, titled and explained in the requester's
//! language. A 500 is a bug: it is logged with the request id and shows no internals.

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kezek_domain::identity::IdNumberError;
use kezek_store::StoreError;
use serde::Serialize;

use crate::i18n::{Lang, current_lang};
use crate::messages;

tokio::task_local! {
    /// The id of the request being handled, quoted in 500 answers so support can find the log line.
    pub static REQUEST_ID: String;
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem to answer with: a status, a message key (titles are `<key>`, details `<key>-detail`)
/// and the arguments of the detail message.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemDetails>);

/// What a [`Problem`] says; kept behind a box so that `Result<T, Problem>` stays small (every
/// handler returns one).
#[derive(Debug, Clone)]
pub struct ProblemDetails {
    pub status: StatusCode,
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub field: Option<&'static str>,
    pub retry_after: Option<u64>,
    /// A machine-readable reason code (a signature's verdict), shown as the `reason` member.
    pub reason: Option<&'static str>,
    /// The service definition's refusal ground the problem amounts to, as the `grounds` member.
    pub grounds: Option<String>,
    /// Why a queue registration is refused, kept to be shown again in any language with the S1
    /// application that records the refusal.
    pub motive: Option<Motive>,
    /// The application that records this refusal (a motivated refusal of S1).
    pub application_id: Option<i64>,
}

/// A motivated refusal's reason: a message key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Motive {
    pub key: String,
    pub value: Option<String>,
}

impl Motive {
    /// The reason in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let args: Vec<(&str, String)> = self.value.iter().map(|v| ("value", v.clone())).collect();
        messages().get(lang, &self.key, &args)
    }
}

/// The body, as serialized.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary in the requester's language.
    pub title: String,
    pub status: u16,
    /// What to do about it, in the requester's language.
    pub detail: String,
    /// The input field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why a signature was refused: malformed, bad_signature, untrusted_chain, expired,
    /// not_yet_valid, revoked, wrong_key_usage, iin_mismatch or content_mismatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The refusal ground of the service definition this amounts to (e.g. `eds-not-confirmed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grounds: Option<String>,
    /// The application that records a refused queue registration, with its motivated refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<i64>,
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl Problem {
    pub fn new(status: StatusCode, key: &'static str) -> Problem {
        Problem(Box::new(ProblemDetails { status, key, args: Vec::new(), field: None, retry_after: None, reason: None, grounds: None, motive: None, application_id: None }))
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Problem {
        self.args.push((name, value.to_string()));
        self
    }

    pub fn field(mut self, field: &'static str) -> Problem {
        self.field = Some(field);
        self
    }

    pub fn unauthenticated() -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "problem-unauthenticated")
    }
    pub fn forbidden() -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "problem-forbidden")
    }
    pub fn not_found() -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "problem-not-found")
    }
    pub fn csrf() -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "problem-csrf")
    }
    pub fn invalid_field(field: &'static str, reason: impl ToString) -> Problem {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-invalid-field").arg("reason", reason).field(field)
    }
    pub fn rate_limited(seconds: u64) -> Problem {
        let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "problem-rate-limited").arg("seconds", seconds);
        p.retry_after = Some(seconds);
        p
    }
    pub fn internal() -> Problem {
        let id = REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned());
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "problem-internal").arg("request_id", id)
    }

    /// An IIN (or BIN) that failed to parse, explained in the requester's language.
    pub fn invalid_iin(field: &'static str, e: IdNumberError) -> Problem {
        let reason_key = format!("iin-error-{e:?}");
        let reason = messages().get(current_lang(), &reason_key, &[]);
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-invalid-iin").arg("reason", reason).field(field)
    }

    /// The problem for a bare error status that carries no explanation (e.g. an unknown route).
    pub fn for_status(status: StatusCode) -> Problem {
        match status {
            StatusCode::NOT_FOUND => Problem::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Problem::new(status, "problem-method-not-allowed"),
            StatusCode::PAYLOAD_TOO_LARGE => Problem::new(status, "problem-too-large").arg("limit", crate::BODY_LIMIT),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(status, "problem-unsupported-media"),
            StatusCode::UNAUTHORIZED => Problem::unauthenticated(),
            StatusCode::FORBIDDEN => Problem::forbidden(),
            StatusCode::TOO_MANY_REQUESTS => Problem::rate_limited(60),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => Problem::new(status, "problem-unavailable"),
            s if s.is_server_error() => Problem::internal(),
            s => Problem::new(s, "problem-bad-request").arg("reason", s.canonical_reason().unwrap_or("")),
        }
    }

    pub fn body(&self, lang: Lang) -> ProblemBody {
        let m = messages();
        let slug = self.key.trim_start_matches("problem-");
        ProblemBody {
            kind: format!("urn:kezek:problem:{slug}"),
            title: m.get(lang, self.key, &self.args),
            status: self.status.as_u16(),
            detail: m.get(lang, &format!("{}-detail", self.key), &self.args),
            field: self.field.map(str::to_owned),
            reason: self.reason.map(str::to_owned),
            grounds: self.grounds.clone(),
            application_id: self.application_id,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body(current_lang())).expect("a problem body serializes");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::Conflict(what) => {
                Problem::new(StatusCode::CONFLICT, "problem-conflict").arg("what", what)
            }
            StoreError::NotFound(_) => Problem::not_found(),
            other => {
                // Database messages can quote stored values (PostgreSQL's "Key (iin)=(…)"); log
                // the kind of failure only.
                tracing::error!(error_kind = other.kind(), db_code = ?other.database_code(), "store failure");
                Problem::internal()
            }
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Problem {
        match r {
            JsonRejection::JsonDataError(e) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-invalid-field")
                .arg("reason", e.body_text().trim_start_matches("Failed to deserialize the JSON body into the target type: ")),
            JsonRejection::JsonSyntaxError(e) => Problem::new(StatusCode::BAD_REQUEST, "problem-malformed-json")
                .arg("reason", e.body_text().trim_start_matches("Failed to parse the request body as JSON: ")),
            JsonRejection::MissingJsonContentType(_) => Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            other => Problem::for_status(other.status()),
        }
    }
}

impl From<FormRejection> for Problem {
    fn from(r: FormRejection) -> Problem {
        match r {
            FormRejection::FailedToDeserializeForm(e) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-invalid-field").arg("reason", e.body_text())
            }
            FormRejection::FailedToDeserializeFormBody(e) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "problem-invalid-field").arg("reason", e.body_text())
            }
            other => Problem::for_status(other.status()),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "problem-bad-request").arg("reason", r.body_text())
    }
}
