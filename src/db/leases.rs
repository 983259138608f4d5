//! Every advisory-lock key jfmon takes, in one place, so no two roles can
//! ever share one by accident ("jfmon" in ASCII, then the role's number).

/// `jfmon rollup --follow` and serve's rollup upkeep.
pub const ROLLUP_FOLLOW: i64 = 0x6a66_6d6f_6e01;
/// `jfmon rollup --backfill`.
pub const ROLLUP_BACKFILL: i64 = 0x6a66_6d6f_6e02;
/// `jfmon prune`: one prune at a time.
pub const PRUNE: i64 = 0x6a66_6d6f_6e03;
/// The hub that evaluates rules and writes alerts.
pub const ALERTING: i64 = 0x6a66_6d6f_6e04;

/// All keys, for the uniqueness check.
pub const ALL: [i64; 4] = [ROLLUP_FOLLOW, ROLLUP_BACKFILL, PRUNE, ALERTING];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_roles_share_a_key() {
        let mut keys = ALL.to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ALL.len());
    }
}
