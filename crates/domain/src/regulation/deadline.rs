//! The total term of a channel's path on the working-day calendar: each step's term starts
//! when the previous step is due, as the regulations chain them (§6: "the result of a
//! procedure is the basis for starting the next one").

use time::PrimitiveDateTime;

use super::model::{Edition, Performer, Step};
use crate::access::Role;
use crate::calendar::{Calendar, CalendarError, Due, OfficeHours};

/// Office hours of the two kinds of organization a path passes through: minute terms count
/// only inside the hours of the office whose staff performs the step.
#[derive(Clone, Debug)]
pub struct PathHours {
    /// The provider (and kindergarten) office; also used for citizen and system steps.
    pub provider: OfficeHours,
    /// The State Corporation / ЦОН front office, where operators work.
    pub front_office: OfficeHours,
}

impl Default for PathHours {
    /// Providers 09:00–18:00 with a 13:00–14:00 break; the State Corporation 09:00–20:00.
    fn default() -> Self {
        PathHours {
            provider: OfficeHours::provider(),
            front_office: OfficeHours::state_corporation(),
        }
    }
}

impl PathHours {
    fn of(&self, step: &Step) -> &OfficeHours {
        match step.performer {
            Performer::Role(Role::Operator) => &self.front_office,
            _ => &self.provider,
        }
    }
}

/// When each step of a path and the whole path are due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathDeadline {
    /// Step ids in path order, with their due point (`None` for steps without a term).
    pub steps: Vec<(String, Option<Due>)>,
    /// The due point of the last step with a term; `None` if no step has one.
    pub due: Option<Due>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("the edition has no channel `{0}`")]
    UnknownChannel(String),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// The due points of `channel`'s steps in `edition` for an application filed at `start`
/// (Almaty local time). A step due on a day is taken as done at that day's closing, so a
/// following minute term counts from the next opening and a following day term from that day.
pub fn effective_deadline(
    edition: &Edition,
    channel: &str,
    start: PrimitiveDateTime,
    calendar: &Calendar,
    hours: &PathHours,
) -> Result<PathDeadline, DeadlineError> {
    let channel = edition
        .channel(channel)
        .ok_or_else(|| DeadlineError::UnknownChannel(channel.to_owned()))?;
    let mut point = start;
    let mut steps = Vec::with_capacity(channel.steps.len());
    let mut last = None;
    for step in &channel.steps {
        let due = match step.duration {
            Some(term) => {
                let office = hours.of(step);
                let due = calendar.due(point, term, office)?;
                point = match due {
                    Due::Moment(m) => m,
                    Due::Day(d) => PrimitiveDateTime::new(d, office.close()),
                };
                last = Some(due);
                Some(due)
            }
            None => None,
        };
        steps.push((step.id.clone(), due));
    }
    Ok(PathDeadline { steps, due: last })
}
