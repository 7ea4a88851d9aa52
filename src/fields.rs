//! Request fields that carry rules (codes, names, reasons, emails, percentages), parsed once
//! where a body is read. A DTO holding a [`Code`] holds a valid code; a bad one is the body's
//! 422 naming its field (`code`), before any handler runs. The OpenAPI document states each
//! rule from the type (a named schema per kind), so the check and the constraint are written
//! once and cannot drift apart.

use std::ops::Deref;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use crate::domain::money;
use crate::validation;

/// [`validation::line_rule`] as the document states it: no control characters and one visible
/// character ([`validation::is_visible`]), in a class every regex dialect reads alike.
const LINE_PATTERN: &str = r"^[^\u0000-\u001f\u007f]*[^\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff][^\u0000-\u001f\u007f]*$";

/// [`validation::code_rule`] as the document states it.
const CODE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$";

/// [`validation::email_rule`] as the document states it.
const EMAIL_PATTERN: &str = r"^[^\u0000-\u0020\u007f@]+@[^\u0000-\u0020\u007f@]+$";

/// [`validation::percent_rule`] as the document states it: 0–100 with at most four decimals.
const PERCENT_PATTERN: &str = r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$";

/// [`money::parse_percent`] as the document states it.
const SIGNED_PERCENT_PATTERN: &str = r"^-?[0-9]{1,4}(\.[0-9]{1,4})?$";

/// A text field: the text as sent (what an idempotency fingerprint hashes, what the views
/// show), checked by `$check(text, $max)` when read and described by its schema.
macro_rules! text_field {
    (
        $(#[$doc:meta])*
        $name:ident: $check:path, $min:literal..=$max:literal, $pattern:expr, $description:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The text, if it keeps the rules; otherwise what is wrong with it.
            pub fn parse(text: String) -> Result<Self, String> {
                $check(&text, $max)?;
                Ok(Self(text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(field: $name) -> String {
                field.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .min_length(Some($min))
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

text_field! {
    /// A code of a company, category or tier: 1–32 letters, digits, `_ . -`, starting with a
    /// letter or digit.
    Code: validation::code_rule, 1..=32, CODE_PATTERN,
    "1–32 letters, digits, '_', '.', '-', starting with a letter or digit"
}

text_field! {
    /// A product's stock-keeping unit: a [`Code`] of up to 64 characters.
    Sku: validation::code_rule, 1..=64, CODE_PATTERN,
    "1–64 letters, digits, '_', '.', '-', starting with a letter or digit"
}

text_field! {
    /// A name: one line of 1–200 characters with a visible one. Stored without its leading
    /// and trailing spaces ([`Name::stored`]).
    Name: validation::line_rule, 1..=200, LINE_PATTERN,
    "1–200 characters on one line, with a visible one"
}

text_field! {
    /// Why something was done (a stock count, a credit note): one line of 1–500 characters
    /// with a visible one.
    Reason: validation::line_rule, 1..=500, LINE_PATTERN,
    "1–500 characters on one line, with a visible one"
}

text_field! {
    /// An employee's email address: at most 254 characters, one `@` with something on each
    /// side, no spaces or control characters. Compared without regard to case.
    Email: validation::email_rule, 3..=254, EMAIL_PATTERN,
    "An email address (compared without regard to case)"
}

impl Name {
    /// The name as stored: without its leading and trailing spaces.
    pub fn stored(&self) -> &str {
        validation::stored_line(&self.0)
    }
}

impl Reason {
    /// The reason as stored: without its leading and trailing spaces.
    pub fn stored(&self) -> &str {
        validation::stored_line(&self.0)
    }
}

/// A decimal field: the text as sent (what an idempotency fingerprint hashes) beside its value,
/// read by `$parse(text)` and described by its schema.
macro_rules! decimal_field {
    (
        $(#[$doc:meta])*
        $name:ident: $parse:path, $pattern:expr, $example:literal, $description:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            text: String,
            value: Decimal,
        }

        impl $name {
            /// The value `text` writes, if it keeps the rules; otherwise what is wrong with it.
            pub fn parse(text: String) -> Result<Self, String> {
                let value = $parse(&text)?;
                Ok(Self { text, value })
            }

            /// Its value (15 for 15 %).
            pub fn value(&self) -> Decimal {
                self.value
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .examples([$example])
                    .pattern(Some($pattern))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

decimal_field! {
    /// A percentage from 0 to 100 with at most four decimals, written as a plain decimal
    /// string (`"15"`, `"12.5"`): a discount.
    Percent: validation::percent_rule, PERCENT_PATTERN, "15",
    "A percentage from 0 to 100 as a plain decimal string, at most four decimals"
}

decimal_field! {
    /// A percentage that may be negative or above 100 (a markup, a cost-plus rate): an
    /// optional `-`, at most four integer digits and four decimals.
    SignedPercent: money::parse_percent, SIGNED_PERCENT_PATTERN, "8",
    "A percentage as a plain decimal string: optional '-', at most 4 integer digits and 4 \
     decimals"
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn codes_keep_their_rules_and_their_text() {
        let code: Code = read(r#""HQ-1.a_b""#).unwrap();
        assert_eq!(code.as_str(), "HQ-1.a_b");
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""HQ-1.a_b""#);
        for bad in [r#""""#, r#""-HQ""#, r#""H Q""#, r#""Ü""#] {
            assert!(read::<Code>(bad).is_err(), "{bad} was accepted");
        }
        assert!(read::<Code>(&format!("\"{}\"", "a".repeat(32))).is_ok());
        assert!(read::<Code>(&format!("\"{}\"", "a".repeat(33))).is_err());
        assert!(read::<Sku>(&format!("\"{}\"", "a".repeat(64))).is_ok());
        assert!(read::<Sku>(&format!("\"{}\"", "a".repeat(65))).is_err());
    }

    #[test]
    fn names_need_a_visible_character_and_are_stored_trimmed() {
        let name: Name = read(r#""  Ada Lovelace ""#).unwrap();
        assert_eq!(name.stored(), "Ada Lovelace");
        assert_eq!(name.as_str(), "  Ada Lovelace ");
        for bad in [r#""""#, r#""   ""#, r#""\u200b""#, r#""a\tb""#] {
            assert!(read::<Name>(bad).is_err(), "{bad} was accepted");
        }
        assert!(read::<Reason>(&format!("\"{}\"", "é".repeat(500))).is_ok());
        assert!(read::<Reason>(&format!("\"{}\"", "é".repeat(501))).is_err());
    }

    #[test]
    fn emails_have_one_at_and_no_spaces() {
        assert!(read::<Email>(r#""ada@jkl.example""#).is_ok());
        for bad in [r#""a@@b""#, r#""@b""#, r#""a @b""#, r#""ab""#] {
            assert!(read::<Email>(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn percentages_are_0_to_100_and_keep_their_text() {
        let p: Percent = read(r#""12.50""#).unwrap();
        assert_eq!(p.value(), dec!(12.5));
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""12.50""#);
        assert!(read::<Percent>(r#""100""#).is_ok());
        for bad in [r#""100.01""#, r#""-1""#, r#""1e1""#, r#""15%""#, "15"] {
            assert!(read::<Percent>(bad).is_err(), "{bad} was accepted");
        }
        let markup: SignedPercent = read(r#""-12.5""#).unwrap();
        assert_eq!(markup.value(), dec!(-12.5));
        assert!(read::<SignedPercent>(r#""9999.9999""#).is_ok());
        for bad in [r#""10000""#, r#""1.00001""#, r#""+1""#, r#""--1""#] {
            assert!(read::<SignedPercent>(bad).is_err(), "{bad} was accepted");
        }
    }
}
