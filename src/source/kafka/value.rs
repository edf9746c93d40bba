//! The decoder for a topic's message values, by `[source] format`: one JSON object or an Arrow
//! IPC stream of rows per message.

use super::arrow::ArrowDecoder;
use super::json::{JsonDecoder, MessageMeta};
use crate::config::{ColumnSpec, ValueFormat};
use crate::source::{Origin, Rows};

/// Decodes message values into samples.
#[derive(Clone, Debug)]
pub enum ValueDecoder {
    /// One JSON object per message.
    Json(JsonDecoder),
    /// An Arrow IPC stream of rows per message.
    Arrow(ArrowDecoder),
}

impl ValueDecoder {
    /// The decoder for `format`.
    pub fn new(format: ValueFormat, columns: &ColumnSpec) -> Self {
        match format {
            ValueFormat::Json => Self::Json(JsonDecoder::new(columns)),
            ValueFormat::Arrow => Self::Arrow(ArrowDecoder::new(columns)),
        }
    }

    /// The columns it decodes.
    pub fn columns(&self) -> &ColumnSpec {
        match self {
            Self::Json(d) => d.columns(),
            Self::Arrow(d) => d.columns(),
        }
    }

    /// Feature names, in input order.
    pub fn feature_names(&self) -> &[String] {
        match self {
            Self::Json(d) => d.feature_names(),
            Self::Arrow(d) => d.feature_names(),
        }
    }

    /// Decodes a message into `out`; rows that fail alone go to `bad` as (row, reason), `Err`
    /// means the whole message failed.
    pub fn decode(
        &mut self,
        value: Option<&[u8]>,
        m: &MessageMeta<'_>,
        out: &mut Rows,
        bad: &mut Vec<(usize, String)>,
    ) -> Result<(), String> {
        match self {
            Self::Json(d) => {
                let origin = Origin {
                    partition: m.partition,
                    row: 0,
                    offset: m.offset,
                };
                d.decode_into(value, m, origin, out)?;
            }
            Self::Arrow(d) => d.decode(value, m, out, bad)?,
        }
        Ok(())
    }
}
