//! The source a pipeline's `[source]` describes.

use std::sync::Arc;

use super::kafka::KafkaSource;
use super::{FileSource, Source, SourceError};
use crate::config::{InputSpec, PipelineSpec};

/// Opens the source of `spec`: a dataset file, or a topic (created if the config says so).
pub fn open(spec: &PipelineSpec) -> Result<Arc<dyn Source>, SourceError> {
    let columns = &spec.source.columns;
    Ok(match &spec.source.input {
        InputSpec::File { path, format } => {
            Arc::new(FileSource::open(path, *format, columns, &spec.config_path)?)
        }
        InputSpec::Kafka(k) => Arc::new(KafkaSource::open(k, columns, &spec.name)?),
    })
}
