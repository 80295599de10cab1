//! Input records decided against: an invalid event, a change for an
//! employee never hired, an event needing an app without a command topic.
//! Each is dead-lettered whole, with a message saying how to replay it, and
//! logged while deciding, inside the record's span; its counts wait for the
//! commit in the unit's tally.

use rdkafka::message::Message;
use tracing::warn;

use super::{dead_letter, event_span, Pending};
use crate::config::Config;
use crate::dlq::{ErrorKind, Failure};
use crate::events::{HrEvent, InvalidEvent};
use crate::ids::AppName;
use crate::metrics::Consumed;

impl Pending {
    /// A record that is no valid HR event.
    pub(super) fn reject_invalid<M: Message>(
        &mut self,
        record: &M,
        reason: InvalidEvent,
        config: &Config,
    ) {
        event_span(record).in_scope(|| {
            warn!(
                message = "Invalid HR event dead-lettered.",
                partition = record.partition(),
                offset = record.offset(),
                reason = %reason.0
            )
        });
        let failure = Failure {
            kind: ErrorKind::InvalidEvent,
            message: reason.0,
            attempts: 1,
            app: None,
        };
        self.dead_letters
            .push(dead_letter(record, &failure, config));
        self.consumed.push(Consumed::Invalid);
    }

    /// A change for an employee of whom nothing is known (no hire seen).
    pub(super) fn reject_unknown_employee<M: Message>(
        &mut self,
        record: &M,
        event: &HrEvent,
        config: &Config,
    ) {
        event_span(record).in_scope(|| {
            warn!(
                message = "Event dead-lettered: a change for an employee never hired.",
                event_id = %event.id,
                employee_id = %event.employee_id
            )
        });
        let failure = Failure {
            kind: ErrorKind::UnknownEmployee,
            message: format!(
                "hr.employee.changed for employee {:?}, of whom nothing is known \
                 (no hire seen): not applied; replay this record once the hire has \
                 arrived (provisioner replay --from {} --error-kind unknown_employee)",
                event.employee_id, config.topics.events_dlq
            ),
            attempts: 1,
            app: None,
        };
        self.reject(record, failure, config);
    }

    /// An event whose commands need apps (`blocking`, not empty) without a
    /// command topic.
    pub(super) fn reject_unknown_app<M: Message>(
        &mut self,
        record: &M,
        event: &HrEvent,
        blocking: &[&str],
        config: &Config,
    ) {
        let names: Vec<String> = blocking
            .iter()
            .map(|app| format!("{app} ({})", config.topics.commands(app)))
            .collect();
        event_span(record).in_scope(|| {
            warn!(
                message = "Event dead-lettered: an app it needs has no command topic.",
                event_id = %event.id,
                employee_id = %event.employee_id,
                apps = ?blocking
            )
        });
        let failure = Failure {
            kind: ErrorKind::UnknownApp,
            message: format!(
                "the decision needs app(s) without a command topic on the broker: {}; \
                 create the topic, then replay this record",
                names.join(", ")
            ),
            attempts: 1,
            app: blocking.first().map(|app| AppName::from(*app)),
        };
        self.reject(record, failure, config);
    }

    /// Dead-letters a valid event its decision refused, counting its kind.
    fn reject<M: Message>(&mut self, record: &M, failure: Failure, config: &Config) {
        self.dead_letters
            .push(dead_letter(record, &failure, config));
        self.rejected.push(failure.kind.into());
    }
}
