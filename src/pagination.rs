//! Keyset pagination: `limit` (1–100, default 20) and an opaque `cursor` that encodes the sort
//! key of the last item returned, so a deep page costs what the first one does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A validated page request whose cursor decodes to the key type `K`.
#[derive(Debug)]
pub struct PageRequest<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor
            .map(|raw| {
                URL_SAFE_NO_PAD
                    .decode(raw)
                    .ok()
                    // A key holding an escaped NUL was not issued here and cannot be compared
                    // with stored text.
                    .filter(|bytes| !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")))
                    .and_then(|bytes| serde_json::from_slice::<K>(&bytes).ok())
                    .ok_or_else(|| ApiError::bad_field("cursor", "is not a cursor this API issued"))
            })
            .transpose()?;
        Ok(Self {
            limit: i64::from(limit),
            after,
        })
    }

    /// How many rows to fetch: one more than the page, to learn whether another page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page of up to [`PageRequest::fetch`] `rows`; `key` gives the sort key of an item.
    pub fn of<T: ToSchema, S: Serialize>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> S,
    ) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// Declares a list's query parameters: the list's own filters, then the two every keyset-paged
/// list takes, stated here once for the document (`limit`, 1–100, and `cursor`, as issued),
/// and `page::<K>()`, which reads them as a [`PageRequest`] whose cursor is the list's sort
/// key `K`. A list whose `limit` means something more names it after the fields
/// (`limit: "Employees per page, …"`).
#[macro_export]
macro_rules! paged_query {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $crate::paged_query! {
            $(#[$attr])*
            pub struct $name {
                $($(#[$field_attr])* pub $field: $ty,)*
            }
            limit: "1–100, default 20."
        }
    };
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
        }
        limit: $limit:literal
    ) => {
        $(#[$attr])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $($(#[$field_attr])* pub $field: $ty,)*
            #[doc = $limit]
            #[param(minimum = 1, maximum = 100)]
            pub limit: Option<u32>,
            /// `next_cursor` of the previous page.
            #[param(pattern = r"^[A-Za-z0-9_-]+$", max_length = 1024)]
            pub cursor: Option<String>,
        }

        impl $name {
            /// The page asked for, its cursor read as the list's sort key `K`.
            pub fn page<K: serde::de::DeserializeOwned>(
                &self,
            ) -> Result<$crate::pagination::PageRequest<K>, $crate::error::ApiError> {
                $crate::pagination::PageRequest::parse(self.limit, self.cursor.as_deref())
            }
        }
    };
}

crate::paged_query! {
    /// The query of a list with no filters of its own: `limit` and `cursor`.
    pub struct PageQuery {
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert!(PageRequest::<String>::parse(Some(101), None).is_err());
        assert!(PageRequest::<String>::parse(Some(0), None).is_err());
        assert_eq!(
            PageRequest::<String>::parse(None, None)
                .map(|p| p.limit)
                .ok(),
            Some(20)
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(&("abc".to_string(), 7_i64));
        let page = PageRequest::<(String, i64)>::parse(Some(5), Some(&cursor));
        assert_eq!(
            page.ok().and_then(|p| p.after),
            Some(("abc".to_string(), 7))
        );
        assert!(PageRequest::<(String, i64)>::parse(None, Some("!!not-base64")).is_err());
        assert!(PageRequest::<(String, i64)>::parse(None, Some("bm9wZQ")).is_err());
        let nul = encode_cursor(&"a\u{0}b".to_string());
        assert!(PageRequest::<String>::parse(None, Some(&nul)).is_err());
    }
}
