//! Label values of the metrics, as enums: each value is spelled once, here,
//! and a call site cannot invent a new one. `as_str()` gives the exposed
//! value, which is the contract (CONTRACT §8): renaming a variant is free,
//! changing what `as_str` returns is not.
//!
//! This module sits at the very bottom: conversions from the domain's types
//! (event types, dead-letter kinds, result outcomes) live with their owners.

/// Defines a label enum with its exposed values and the list of them all
/// (used to create every series at zero).
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the order they are created at zero.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value as exposed.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value),+
                }
            }
        }
    };
}

label_enum! {
    /// `type` of `provisioner_events_consumed_total`.
    Consumed {
        /// An `hr.employee.hired` event.
        Hired => "hired",
        /// An `hr.employee.changed` event.
        Changed => "changed",
        /// An `hr.employee.left` event.
        Left => "left",
        /// A record that is no valid HR event (it is dead-lettered).
        Invalid => "invalid",
    }
}

label_enum! {
    /// `reason` of `provisioner_events_dead_lettered_total` and `kind` of
    /// `provisioner_commands_dead_lettered_total`: the dead-letter error kind.
    DeadLetterKind {
        /// An HR event that fails validation.
        InvalidEvent => "invalid_event",
        /// A change for an employee never hired.
        UnknownEmployee => "unknown_employee",
        /// An app without a command topic, or not in the catalogue.
        UnknownApp => "unknown_app",
        /// The app refused a command for good.
        Permanent => "permanent",
        /// Every try failed.
        RetriesExhausted => "retries_exhausted",
        /// The app accepted a command that, read back, did not take.
        VerifyFailed => "verify_failed",
    }
}

impl DeadLetterKind {
    /// The reasons the engine creates at zero (a poison record's
    /// `retries_exhausted` appears when it first happens).
    pub const EVENTS: &'static [DeadLetterKind] = &[
        DeadLetterKind::InvalidEvent,
        DeadLetterKind::UnknownApp,
        DeadLetterKind::UnknownEmployee,
    ];

    /// The kinds a connector creates at zero.
    pub const COMMANDS: &'static [DeadLetterKind] = &[
        DeadLetterKind::Permanent,
        DeadLetterKind::RetriesExhausted,
        DeadLetterKind::UnknownApp,
        DeadLetterKind::VerifyFailed,
    ];
}

label_enum! {
    /// `action` of `provisioner_commands_emitted_total`.
    Action {
        /// Create or update the account.
        Upsert => "upsert",
        /// Remove the account.
        Deprovision => "deprovision",
    }
}

label_enum! {
    /// `result` of `provisioner_rules_reloads_total`.
    ReloadResult {
        /// The new rules are in force.
        Applied => "applied",
        /// The new rules were refused; the previous ones stay.
        Refused => "refused",
    }
}

label_enum! {
    /// `outcome` of `provisioner_connector_requests_total`.
    Outcome {
        /// The app was changed.
        Applied => "applied",
        /// The app already matched.
        Unchanged => "unchanged",
        /// A newer generation was already applied.
        Superseded => "superseded",
        /// The command went to the dead-letter topic.
        DeadLettered => "dead_lettered",
    }
}

label_enum! {
    /// `situation` of `provisioner_reconcile_accounts`: reconciliation's
    /// situations (CONTRACT §11), converted from `reconcile::Situation`
    /// by their owner.
    Situation {
        /// Active, owned by no entitled employee.
        Orphan => "orphan",
        /// Linked, but not as decided.
        Drifted => "drifted",
        /// An employee without the account they must have.
        Missing => "missing",
        /// Whose account it is, is unclear.
        Disputed => "disputed",
        /// On the app's ignore list.
        Ignored => "ignored",
        /// Linked and as decided.
        Linked => "linked",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|&v| as_str(v)).collect()
    }

    #[test]
    fn label_values_are_the_contract() {
        assert_eq!(
            values(Consumed::ALL, Consumed::as_str),
            ["hired", "changed", "left", "invalid"]
        );
        assert_eq!(
            values(DeadLetterKind::ALL, DeadLetterKind::as_str),
            [
                "invalid_event",
                "unknown_employee",
                "unknown_app",
                "permanent",
                "retries_exhausted",
                "verify_failed"
            ]
        );
        assert_eq!(
            values(DeadLetterKind::EVENTS, DeadLetterKind::as_str),
            ["invalid_event", "unknown_app", "unknown_employee"]
        );
        assert_eq!(
            values(DeadLetterKind::COMMANDS, DeadLetterKind::as_str),
            [
                "permanent",
                "retries_exhausted",
                "unknown_app",
                "verify_failed"
            ]
        );
        assert_eq!(
            values(Action::ALL, Action::as_str),
            ["upsert", "deprovision"]
        );
        assert_eq!(
            values(ReloadResult::ALL, ReloadResult::as_str),
            ["applied", "refused"]
        );
        assert_eq!(
            values(Outcome::ALL, Outcome::as_str),
            ["applied", "unchanged", "superseded", "dead_lettered"]
        );
        assert_eq!(
            values(Situation::ALL, Situation::as_str),
            ["orphan", "drifted", "missing", "disputed", "ignored", "linked"]
        );
    }
}
