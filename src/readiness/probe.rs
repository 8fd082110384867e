//! A probed dependency (DNS, TCP, HTTP): ready when its last result was.

use super::Readiness;
use crate::probe::ProbeStatus;

/// Judge from the probe's last result; `None` before its first.
pub fn judge(status: Option<&ProbeStatus>) -> Readiness {
    match status {
        Some(status) => Readiness::one(status.is_ready(), status.detail().to_string()),
        None => Readiness::one(false, "resolving".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_the_first_answer_then_as_it_says() {
        let r = judge(None);
        assert!(!r.is_ready());
        assert_eq!((r.ready_objects, r.counted_objects), (0, 1));
        let r = judge(Some(&ProbeStatus::Ready("10.0.0.7".into())));
        assert!(r.is_ready());
        assert_eq!((r.summary.as_str(), r.ready_objects), ("10.0.0.7", 1));
        assert!(!judge(Some(&ProbeStatus::NotReady("NXDOMAIN".into()))).is_ready());
    }
}
