//! Secrets never enter the store: every text a source delivers (alert
//! titles, descriptions and context, error messages, endpoints, health
//! messages, source errors) is masked by [`mask_update`] before
//! [`State::apply`](super::State::apply) keeps it, and before the hub encodes
//! it for its clients. Every output (views, `snapshot`, the JSON API, stream
//! frames, `/metrics`, logs of records) reads from there, so none can show a
//! secret. What is hidden and how: [`crate::redact::mask_json`] and
//! [`crate::redact::mask_text`]. Masking is idempotent, so a record masked by
//! a hub and again by its client is unchanged.

use std::borrow::Cow;

use crate::model::*;
use crate::redact::{mask_json, mask_text};

/// Mask every secret an update may carry, in place.
pub fn mask_update(u: &mut Update) {
    match u {
        Update::Batch(b) => mask_batch(b),
        Update::Source(s) => {
            mask_string(&mut s.target);
            mask_opt(&mut s.last_error);
        }
        Update::RuleAlerts(r) => mask_rule_alerts(r),
    }
}

/// A rule alert's texts and labels (an endpoint label can carry a token).
fn mask_rule_alerts(r: &mut RuleAlerts) {
    for a in &mut r.alerts {
        mask_string(&mut a.summary);
        mask_string(&mut a.why);
        mask_opt(&mut a.baseline);
        a.labels.values_mut().for_each(mask_string);
    }
    r.notes.values_mut().for_each(mask_string);
}

fn mask_string(s: &mut String) {
    if let Cow::Owned(m) = mask_text(s) {
        *s = m;
    }
}

fn mask_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        mask_string(s);
    }
}

fn mask_api_call(c: &mut ApiCall) {
    mask_string(&mut c.endpoint);
    mask_opt(&mut c.error);
}

fn mask_integration_call(c: &mut IntegrationCall) {
    mask_opt(&mut c.operation);
    mask_opt(&mut c.error);
}

/// An alert's texts and context (also for the stream protocol's own checks).
pub fn mask_alert(a: &mut AlertRow) {
    mask_opt(&mut a.alert_type);
    mask_opt(&mut a.title);
    mask_opt(&mut a.description);
    if let Some(c) = &mut a.context {
        *c = mask_json(c);
    }
}

fn mask_batch(b: &mut Batch) {
    for (_, key, _) in &mut b.api {
        mask_string(&mut key.endpoint);
    }
    for (_, tail) in &mut b.integration_tails {
        if let Some((_, msg)) = &mut tail.last_error {
            mask_string(msg);
        }
    }
    b.integration_errors
        .iter_mut()
        .for_each(mask_integration_call);
    b.api_errors.iter_mut().for_each(mask_api_call);
    b.api_slow.iter_mut().for_each(mask_api_call);
    if let Some(s) = &mut b.sessions {
        for x in &mut s.items {
            mask_string(&mut x.service);
            mask_string(&mut x.status);
        }
    }
    if let Some(a) = &mut b.alerts {
        a.items.iter_mut().for_each(mask_alert);
    }
    if let Some(r) = &mut b.health_reports {
        for h in r {
            mask_opt(&mut h.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn an_update_is_masked_and_masking_twice_changes_nothing() {
        let mut a = AlertRow {
            id: 1,
            alert_type: Some("p".into()),
            severity_raw: Some("high".into()),
            title: Some("login with postgres://u:title-pw@h/db failed".into()),
            description: Some("Authorization: Bearer desc-tok".into()),
            context: Some(serde_json::json!({"X-Api-Key": "ctx-key"})),
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            created_at: Utc::now(),
        };
        mask_alert(&mut a);
        let text = serde_json::to_string(&a).unwrap();
        for s in ["title-pw", "desc-tok", "ctx-key"] {
            assert!(!text.contains(s), "{s}: {text}");
        }
        let again = {
            let mut b = a.clone();
            mask_alert(&mut b);
            b
        };
        assert_eq!(again, a);
    }
}
