//! ISO 4217 currencies (with their minor-unit exponent) and ISO 3166-1 alpha-2 countries,
//! as validated newtypes: a `CurrencyCode` can only hold a real currency.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Active ISO 4217 codes and their minor-unit exponents.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

/// ISO 3166-1 alpha-2 codes, concatenated.
const COUNTRIES: &str = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ\
CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY\
HKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ\
NANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ\
TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode {
    code: &'static str,
    exponent: u32,
}

impl CurrencyCode {
    pub fn parse(raw: &str) -> Option<Self> {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == raw)
            .map(|&(code, exponent)| Self { code, exponent })
    }

    pub fn as_str(&self) -> &'static str {
        self.code
    }

    /// Every code this service knows, in ISO 4217 order.
    pub fn all() -> impl Iterator<Item = &'static str> {
        CURRENCIES.iter().map(|(code, _)| *code)
    }

    /// Digits after the decimal point in the currency's minor unit (USD 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 2
            && raw.bytes().all(|b| b.is_ascii_uppercase())
            && COUNTRIES
                .as_bytes()
                .chunks(2)
                .any(|pair| pair == raw.as_bytes());
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every ISO 3166-1 alpha-2 code, alphabetically.
    pub fn all() -> impl Iterator<Item = &'static str> {
        COUNTRIES
            .as_bytes()
            .chunks(2)
            .filter_map(|pair| std::str::from_utf8(pair).ok())
    }
}

/// Request fields and query parameters carry codes parsed: an unknown one is refused where
/// it is read, naming its field.
impl Serialize for CurrencyCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).ok_or_else(|| de::Error::custom("must be an ISO 4217 code such as USD"))
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw)
            .ok_or_else(|| de::Error::custom("must be an ISO 3166-1 alpha-2 code such as US"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_know_their_minor_units() {
        assert_eq!(CurrencyCode::parse("USD").map(|c| c.exponent()), Some(2));
        assert_eq!(CurrencyCode::parse("JPY").map(|c| c.exponent()), Some(0));
        assert_eq!(CurrencyCode::parse("KWD").map(|c| c.exponent()), Some(3));
        assert!(CurrencyCode::parse("usd").is_none());
        assert!(CurrencyCode::parse("XXX").is_none());
    }

    #[test]
    fn codes_are_read_and_written_as_their_text() {
        let usd: CurrencyCode = serde_json::from_str(r#""USD""#).unwrap();
        assert_eq!(usd.exponent(), 2);
        assert_eq!(serde_json::to_string(&usd).unwrap(), r#""USD""#);
        assert!(serde_json::from_str::<CurrencyCode>(r#""usd""#).is_err());
        let de: CountryCode = serde_json::from_str(r#""DE""#).unwrap();
        assert_eq!(serde_json::to_string(&de).unwrap(), r#""DE""#);
        assert!(serde_json::from_str::<CountryCode>(r#""ZZ""#).is_err());
    }

    #[test]
    fn countries_are_iso_3166() {
        assert!(CountryCode::parse("US").is_some());
        assert!(CountryCode::parse("DE").is_some());
        assert!(CountryCode::parse("ZZ").is_none());
        assert!(CountryCode::parse("us").is_none());
        assert_eq!(COUNTRIES.len() % 2, 0);
    }
}

/// A four-digit SIC industry code (`5311`). Its first two digits are the major group, which
/// is what Reg. §1.132-4(a)(2) compares for the line of business. Four ASCII digits, held
/// inline: the benefits report reads two per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SicCode([u8; 4]);

impl SicCode {
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: [u8; 4] = raw.as_bytes().try_into().ok()?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then_some(Self(digits))
    }

    /// The two-digit major group (`53` of `5311`).
    pub fn major_group(self) -> [u8; 2] {
        let [a, b, _, _] = self.0;
        [a, b]
    }

    /// The four digits as text (`"5311"`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Serialize for SicCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SicCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw)
            .ok_or_else(|| de::Error::custom("must be a four-digit SIC industry code such as 5311"))
    }
}

#[cfg(test)]
mod sic_tests {
    use super::SicCode;

    #[test]
    fn four_digits_and_nothing_else() {
        assert_eq!(
            SicCode::parse("5651").map(SicCode::major_group),
            Some(*b"56")
        );
        for bad in ["565", "56510", "56a1", " 565", "", "５６５１"] {
            assert_eq!(SicCode::parse(bad), None, "{bad:?}");
        }
    }
}
