//! Asia/Almaty local time. Kazakhstan moved the whole country to UTC+5 on 1 March 2024
//! (clocks went from 00:00 back to 23:00 on 29 February); before that Almaty was UTC+6.
//! Kept as a fixed rule instead of a tz database so the domain stays free of I/O; the
//! daylight-saving time abolished in 2005 is not modelled (kezek holds no earlier data).

use time::macros::{datetime, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The instant Almaty switched from UTC+6 to UTC+5: 2024-03-01 00:00 at +06.
pub const ALMATY_SWITCH_TO_UTC5: OffsetDateTime = datetime!(2024-02-29 18:00 UTC);

/// Local wall-clock time from which every reading is UTC+5.
const FIRST_LOCAL_AT_UTC5_ONLY: PrimitiveDateTime = datetime!(2024-03-01 00:00);

/// Almaty's offset from UTC at `instant`.
pub fn almaty_offset_at(instant: OffsetDateTime) -> UtcOffset {
    if instant < ALMATY_SWITCH_TO_UTC5 {
        offset!(+6)
    } else {
        offset!(+5)
    }
}

/// The Almaty wall-clock reading at `instant`.
pub fn utc_to_almaty(instant: OffsetDateTime) -> PrimitiveDateTime {
    let local = instant.to_offset(almaty_offset_at(instant));
    PrimitiveDateTime::new(local.date(), local.time())
}

/// The instant of an Almaty wall-clock reading. The hour 23:00–23:59 of 29 February 2024
/// happened twice; it is read as the earlier (UTC+6) occurrence.
pub fn almaty_to_utc(local: PrimitiveDateTime) -> OffsetDateTime {
    let offset = if local < FIRST_LOCAL_AT_UTC5_ONLY {
        offset!(+6)
    } else {
        offset!(+5)
    };
    local.assume_offset(offset).to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn almaty_is_utc_plus_six_before_march_2024_and_plus_five_after() {
        assert_eq!(
            utc_to_almaty(datetime!(2024-02-29 17:59 UTC)),
            datetime!(2024-02-29 23:59)
        );
        assert_eq!(
            utc_to_almaty(datetime!(2024-02-29 18:00 UTC)),
            datetime!(2024-02-29 23:00)
        );
        assert_eq!(
            utc_to_almaty(datetime!(2025-03-20 04:00 UTC)),
            datetime!(2025-03-20 09:00)
        );
        assert_eq!(
            almaty_to_utc(datetime!(2023-12-01 09:00)),
            datetime!(2023-12-01 03:00 UTC)
        );
        assert_eq!(
            almaty_to_utc(datetime!(2026-01-05 09:00)),
            datetime!(2026-01-05 04:00 UTC)
        );
    }

    #[test]
    fn the_repeated_hour_of_29_february_2024_reads_as_its_first_occurrence() {
        assert_eq!(
            almaty_to_utc(datetime!(2024-02-29 23:30)),
            datetime!(2024-02-29 17:30 UTC)
        );
        assert_eq!(
            almaty_to_utc(datetime!(2024-03-01 00:00)),
            datetime!(2024-02-29 19:00 UTC)
        );
    }

    proptest! {
        #[test]
        fn utc_round_trips_through_almaty_local_time(secs in 1_600_000_000i64..1_900_000_000i64) {
            let instant = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let local = utc_to_almaty(instant);
            let back = almaty_to_utc(local);
            // Only the second occurrence of the repeated hour maps back one hour earlier.
            let second_pass = instant >= ALMATY_SWITCH_TO_UTC5
                && instant < ALMATY_SWITCH_TO_UTC5 + time::Duration::HOUR;
            if second_pass {
                prop_assert_eq!(back, instant - time::Duration::HOUR);
            } else {
                prop_assert_eq!(back, instant);
            }
        }
    }
}
