//! Kazakhstan's individual and business identification numbers (IIN, BIN), parsed at the
//! boundary so that an `Iin` or `Bin` value is always well-formed.
//!
//! Both are 12 digits ending in a check digit: weights 1..=11 over the first 11 digits, mod 11;
//! a result of 10 means "recompute with weights 3..=11,1,2"; 10 again means the number is invalid.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

/// Why a 12-digit identification number was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("must be exactly 12 digits")]
    NotTwelveDigits,
    #[error("the first six digits are not a real birth date")]
    BadBirthDate,
    #[error("the seventh digit must be 1-6 (century and sex)")]
    BadCenturyDigit,
    #[error("the check digit does not match")]
    BadCheckDigit,
    #[error("the fifth digit must be 4, 5 or 6 (type of legal entity)")]
    BadEntityType,
    #[error("the sixth digit must be 0-3 (head office, branch, representation, peasant farm)")]
    BadEntityKind,
}

fn digits_of(s: &str) -> Result<[u8; 12], IdNumberError> {
    let bytes = s.as_bytes();
    if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(IdNumberError::NotTwelveDigits);
    }
    let mut d = [0u8; 12];
    for (slot, b) in d.iter_mut().zip(bytes) {
        *slot = b - b'0';
    }
    Ok(d)
}

/// The national check digit of the first 11 digits, or `None` when no valid one exists.
pub fn check_digit(first11: &[u8; 11]) -> Option<u8> {
    let weighted = |offset: u32| -> u32 {
        first11
            .iter()
            .enumerate()
            .map(|(i, &d)| u32::from(d) * ((i as u32 + offset) % 11 + 1))
            .sum::<u32>()
            % 11
    };
    match weighted(0) {
        10 => match weighted(2) {
            10 => None,
            c => Some(c as u8),
        },
        c => Some(c as u8),
    }
}

fn verify_check_digit(d: &[u8; 12]) -> Result<(), IdNumberError> {
    let first11: [u8; 11] = d[..11].try_into().expect("12 digits have 11 leading ones");
    match check_digit(&first11) {
        Some(c) if c == d[11] => Ok(()),
        _ => Err(IdNumberError::BadCheckDigit),
    }
}

fn two_digits(d: &[u8], at: usize) -> u8 {
    d[at] * 10 + d[at + 1]
}

/// Sex as encoded in the seventh digit of an IIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// An individual identification number (ЖСН / ИИН).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iin([u8; 12]);

impl Iin {
    pub fn parse(s: &str) -> Result<Self, IdNumberError> {
        let d = digits_of(s.trim())?;
        let century = match d[6] {
            1 | 2 => 1800,
            3 | 4 => 1900,
            5 | 6 => 2000,
            _ => return Err(IdNumberError::BadCenturyDigit),
        };
        let year = century + i32::from(two_digits(&d, 0));
        let month = Month::try_from(two_digits(&d, 2)).map_err(|_| IdNumberError::BadBirthDate)?;
        Date::from_calendar_date(year, month, two_digits(&d, 4))
            .map_err(|_| IdNumberError::BadBirthDate)?;
        verify_check_digit(&d)?;
        Ok(Iin(d))
    }

    /// The birth date encoded in the number.
    pub fn birth_date(&self) -> Date {
        let d = &self.0;
        let century = match d[6] {
            1 | 2 => 1800,
            3 | 4 => 1900,
            _ => 2000,
        };
        let month = Month::try_from(two_digits(d, 2)).expect("validated in parse");
        Date::from_calendar_date(century + i32::from(two_digits(d, 0)), month, two_digits(d, 4))
            .expect("validated in parse")
    }

    pub fn sex(&self) -> Sex {
        if self.0[6] % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// The twelve digits. Personal data: never log it.
    pub fn as_string(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The form safe to show to people other than its owner: `9001******23`.
    pub fn masked(&self) -> String {
        let s = self.as_string();
        format!("{}******{}", &s[..4], &s[10..])
    }
}

/// Masked on purpose: an IIN must never reach a log line through `{:?}`.
impl fmt::Debug for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iin({})", self.masked())
    }
}

impl Serialize for Iin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for Iin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Iin::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A business identification number (БСН / БИН) of a legal entity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bin([u8; 12]);

impl Bin {
    pub fn parse(s: &str) -> Result<Self, IdNumberError> {
        let d = digits_of(s.trim())?;
        if !(1..=12).contains(&two_digits(&d, 2)) {
            return Err(IdNumberError::BadBirthDate);
        }
        if !(4..=6).contains(&d[4]) {
            return Err(IdNumberError::BadEntityType);
        }
        if d[5] > 3 {
            return Err(IdNumberError::BadEntityKind);
        }
        verify_check_digit(&d)?;
        Ok(Bin(d))
    }

    pub fn as_string(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl fmt::Debug for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bin({})", self.as_string())
    }
}

impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl Serialize for Bin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Bin::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Builds a valid IIN for a birth date, sex and serial; `None` if no check digit exists for
/// that serial. Used by demo data and tests, which need many valid numbers.
pub fn iin_for(birth: Date, sex: Sex, serial: u16) -> Option<Iin> {
    let century_digit = match (birth.year() / 100, sex) {
        (18, Sex::Male) => 1,
        (18, Sex::Female) => 2,
        (19, Sex::Male) => 3,
        (19, Sex::Female) => 4,
        (20, Sex::Male) => 5,
        (20, Sex::Female) => 6,
        _ => return None,
    };
    let yy = (birth.year() % 100) as u16;
    let text = format!(
        "{yy:02}{:02}{:02}{century_digit}{:04}",
        u8::from(birth.month()),
        birth.day(),
        serial % 10_000
    );
    let mut first11 = [0u8; 11];
    for (slot, b) in first11.iter_mut().zip(text.bytes()) {
        *slot = b - b'0';
    }
    let c = check_digit(&first11)?;
    Iin::parse(&format!("{text}{c}")).ok()
}

/// Builds a valid BIN (resident legal entity, head office) registered in the given year and
/// month, with a serial; `None` if no check digit exists for that serial.
pub fn bin_for(year: i32, month: u8, serial: u32) -> Option<Bin> {
    let text = format!("{:02}{month:02}40{:05}", year % 100, serial % 100_000);
    let mut first11 = [0u8; 11];
    for (slot, b) in first11.iter_mut().zip(text.bytes()) {
        *slot = b - b'0';
    }
    let c = check_digit(&first11)?;
    Bin::parse(&format!("{text}{c}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn accepts_a_real_iin_and_reads_its_birth_date_and_sex() {
        // 12 March 1990, male, serial 1234: check digit from the first weights gives 8
        let iin = iin_for(date!(1990 - 03 - 12), Sex::Male, 1234).expect("serial has a digit");
        assert_eq!(&iin.as_string()[..11], "90031231234");
        assert_eq!(iin.birth_date(), date!(1990 - 03 - 12));
        assert_eq!(iin.sex(), Sex::Male);
        assert_eq!(Iin::parse(&iin.as_string()), Ok(iin));
    }

    #[test]
    fn check_digit_uses_second_weights_when_first_gives_ten() {
        // digits 0,0,0,0,0,0,0,0,0,0,1 weigh 11*1 = 11 ≡ 0 under weights 1..11; find a case of 10:
        // 0,0,0,0,0,0,0,0,0,1,0 → 10 (first pass), second pass weight of position 10 is 1 → 1.
        assert_eq!(check_digit(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Some(1));
    }

    #[test]
    fn rejects_wrong_length_letters_dates_century_and_check_digit() {
        assert_eq!(Iin::parse("90031231234"), Err(IdNumberError::NotTwelveDigits));
        assert_eq!(Iin::parse("9003123123a8"), Err(IdNumberError::NotTwelveDigits));
        assert_eq!(Iin::parse("900231312340"), Err(IdNumberError::BadBirthDate));
        assert_eq!(Iin::parse("900312712340"), Err(IdNumberError::BadCenturyDigit));
        let good = iin_for(date!(2021 - 02 - 28), Sex::Female, 77).unwrap().as_string();
        let last = good.as_bytes()[11] - b'0';
        let bad = format!("{}{}", &good[..11], (last + 1) % 10);
        assert_eq!(Iin::parse(&bad), Err(IdNumberError::BadCheckDigit));
    }

    #[test]
    fn rejects_29_february_of_a_common_year() {
        assert_eq!(Iin::parse("210229600000"), Err(IdNumberError::BadBirthDate));
    }

    #[test]
    fn debug_output_masks_the_number() {
        let iin = iin_for(date!(2019 - 05 - 01), Sex::Male, 4321).unwrap();
        let shown = format!("{iin:?}");
        assert!(!shown.contains(&iin.as_string()), "{shown}");
        assert!(shown.contains("******"));
    }

    #[test]
    fn bin_rules() {
        let bin = bin_for(2010, 5, 1234).expect("serial has a digit");
        assert_eq!(Bin::parse(&bin.as_string()), Ok(bin));
        assert_eq!(Bin::parse("101340012345"), Err(IdNumberError::BadBirthDate));
        assert_eq!(Bin::parse("100590012345"), Err(IdNumberError::BadEntityType));
    }

    fn first_pass_of(s: &str) -> u32 {
        s.bytes().take(11).enumerate().map(|(i, c)| u32::from(c - b'0') * (i as u32 + 1)).sum::<u32>() % 11
    }

    proptest! {
        #[test]
        fn every_generated_iin_round_trips(days in 0i32..80_000, male: bool, serial in 0u16..10_000) {
            let birth = date!(1850 - 01 - 01) + time::Duration::days(i64::from(days));
            let sex = if male { Sex::Male } else { Sex::Female };
            if let Some(iin) = iin_for(birth, sex, serial) {
                prop_assert_eq!(iin.birth_date(), birth);
                prop_assert_eq!(iin.sex(), sex);
                prop_assert_eq!(Iin::parse(&iin.as_string()), Ok(iin));
            }
        }

        #[test]
        // The eleventh digit carries weight 11 ≡ 0 in the first pass, so the national algorithm
        // cannot see a change there; every other position is protected.
        fn changing_one_digit_other_than_the_eleventh_breaks_the_iin(
            serial in 0u16..10_000,
            pos in (0usize..12).prop_filter("eleventh digit", |p| *p != 10),
            delta in 1u8..10,
        ) {
            if let Some(iin) = iin_for(date!(2020 - 06 - 15), Sex::Female, serial) {
                prop_assume!(first_pass_of(&iin.as_string()) != 10);
                let mut b = iin.as_string().into_bytes();
                b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
                let changed = String::from_utf8(b).unwrap();
                // A number whose first pass gives 10 is re-weighted and may collide by chance.
                prop_assume!(first_pass_of(&changed) != 10);
                prop_assert!(Iin::parse(&changed).is_err(), "{} accepted", changed);
            }
        }
    }
}
