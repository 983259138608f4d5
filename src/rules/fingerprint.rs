//! An alert's identity: the fingerprint of its label set, computed exactly as
//! Alertmanager computes it (prometheus/common `model.LabelSet.Fingerprint`,
//! model/signature.go and model/fnv.go): FNV-1a 64 over the label names in
//! byte order, each name and value followed by the separator byte 0xff. The
//! same alert so has the same id in `monitoring_alerts`, in Alertmanager and
//! in every webhook.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const OFFSET64: u64 = 14_695_981_039_346_656_037;
const PRIME64: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

/// A label set's fingerprint; `Display` is 16 lowercase hex digits, as
/// Alertmanager prints it (`fmt.Sprintf("%016x", …)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

fn add(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME64);
    }
    h
}

impl Fingerprint {
    /// The fingerprint of `labels` (a `BTreeMap` iterates names in byte order,
    /// which is Go's `sort.Strings` order).
    pub fn of(labels: &BTreeMap<String, String>) -> Fingerprint {
        let mut h = OFFSET64;
        for (name, value) in labels {
            h = add(h, name.as_bytes());
            h = add(h, &[SEPARATOR]);
            h = add(h, value.as_bytes());
            h = add(h, &[SEPARATOR]);
        }
        Fingerprint(h)
    }

    /// Parse the 16-hex-digit form.
    pub fn parse(s: &str) -> Option<Fingerprint> {
        (s.len() == 16)
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
            .map(Fingerprint)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fingerprint::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("\"{s}\" is not a 16-hex-digit fingerprint"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The vectors of prometheus/common model/signature_test.go
    /// (TestMetricToFingerprint, commit d2417e2c).
    #[test]
    fn matches_prometheus_common_test_vectors() {
        assert_eq!(Fingerprint::of(&set(&[])).0, 14_695_981_039_346_656_037);
        let ls = set(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(Fingerprint::of(&ls).0, 5_799_056_148_416_392_346);
    }

    /// Fingerprints a real Alertmanager 0.25 (Debian prometheus-alertmanager)
    /// reported in `GET /api/v2/alerts` for alerts posted with these labels.
    #[test]
    fn matches_a_real_alertmanager() {
        for (labels, expected) in AM_VECTORS {
            assert_eq!(
                Fingerprint::of(&set(labels)).to_string(),
                *expected,
                "{labels:?}"
            );
        }
    }

    const AM_VECTORS: &[(&[(&str, &str)], &str)] = &[
        (&[("alertname", "x")], "d240efc3896bf266"),
        (
            &[
                ("alertname", "IntegrationDown"),
                ("integration", "openai"),
                ("severity", "critical"),
            ],
            "d81de8d7620fe48c",
        ),
        (
            &[
                ("alertname", "EndpointErrorRate"),
                ("endpoint", "/api/spiritual/guidance"),
                ("method", "POST"),
                ("severity", "high"),
                ("team", "platform"),
            ],
            "dca63b84ec5f4f7c",
        ),
        (
            &[("alertname", "unicode"), ("note", "ज्योति ✓")],
            "9e43c81a8d9214b0",
        ),
    ];

    #[test]
    fn prints_and_parses_sixteen_hex_digits() {
        let f = Fingerprint(0xab);
        assert_eq!(f.to_string(), "00000000000000ab");
        assert_eq!(Fingerprint::parse("00000000000000ab"), Some(f));
        assert_eq!(Fingerprint::parse("ab"), None);
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"00000000000000ab\"");
    }
}
