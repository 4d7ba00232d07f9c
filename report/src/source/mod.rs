//! Where the figures come from: CloudWatch (`GetMetricData`) or EMF files. Each source answers
//! the same list of statistics (`observe::SUMMARY`, `observe::SERIES`); one report is built
//! from either.

pub mod cloudwatch;
pub mod emf;

use std::path::PathBuf;

use crate::error::ReportError;
use crate::model::SourceInfo;
use crate::observe::{Observations, Window};

/// A source of observations.
#[derive(Debug, Clone)]
pub enum Source {
    CloudWatch(cloudwatch::CloudWatch),
    Emf { files: Vec<PathBuf>, namespace: String },
}

/// What a source answered, for which function and window.
#[derive(Debug, Clone)]
pub struct Answer {
    pub observations: Observations,
    pub window: Window,
    pub function: String,
    pub info: SourceInfo,
}

impl Source {
    /// The observations for `function` (with EMF files, optional when they hold only one) in
    /// `window` (with EMF files, the span of the documents when `None`), asked at `now`.
    pub async fn observe(
        &self,
        function: Option<&str>,
        window: Option<Window>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Answer, ReportError> {
        match self {
            Self::CloudWatch(cw) => {
                let function = function.ok_or_else(|| {
                    ReportError::Usage("--function NAME is needed to read CloudWatch".into())
                })?;
                let window = window.ok_or_else(|| ReportError::Usage("a window is needed".into()))?;
                let (observations, region) = cw.observe(function, &window, now).await?;
                Ok(Answer {
                    observations,
                    window,
                    function: function.to_owned(),
                    info: SourceInfo {
                        kind: "cloudwatch",
                        region: Some(region),
                        namespace: cw.namespace.clone(),
                        files: Vec::new(),
                    },
                })
            }
            Self::Emf { files, namespace } => {
                let (observations, window, function) = emf::observe(files, function, window)?;
                Ok(Answer {
                    observations,
                    window,
                    function,
                    info: SourceInfo {
                        kind: "emf",
                        region: None,
                        namespace: namespace.clone(),
                        files: files.iter().map(|p| p.display().to_string()).collect(),
                    },
                })
            }
        }
    }
}
