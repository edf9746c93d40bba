//! Values several sections share.

/// A count, or the word `"all"` (`tail_triggers`, drift `sample_size`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum CountOrAll {
    Count(i64),
    All(AllWord),
}

/// The word `"all"`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AllWord {
    All,
}
