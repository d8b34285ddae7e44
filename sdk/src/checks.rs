//! Ready-made checks for data every county has: resident ID numbers and names.

/// Weights of the first 17 digits of a resident ID number (GB 11643-1999).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder of the weighted sum modulo 11.
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why a resident ID number is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResidentIdProblem {
    /// Not 17 digits followed by a digit or X.
    Format,
    /// The birth date (characters 7–14) is not a real date.
    BirthDate,
    /// The 18th character does not match the check digit of the first 17.
    CheckDigit,
}

/// Checks an 18-character resident ID number (GB 11643-1999): format, birth date and
/// check digit. A lower-case x is accepted for X.
pub fn resident_id(id: &str) -> Result<(), ResidentIdProblem> {
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.len() != 18
        || !chars[..17].iter().all(char::is_ascii_digit)
        || !(chars[17].is_ascii_digit() || chars[17] == 'X' || chars[17] == 'x')
    {
        return Err(ResidentIdProblem::Format);
    }
    let digit = |i: usize| chars[i].to_digit(10).unwrap_or(0);
    let number = |range: std::ops::Range<usize>| range.fold(0, |n, i| n * 10 + digit(i));
    let (year, month, day) = (number(6..10), number(10..12), number(12..14));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if !(1900..=2100).contains(&year) || day == 0 || day > days {
        return Err(ResidentIdProblem::BirthDate);
    }
    let sum: u32 = (0..17).map(|i| digit(i) * WEIGHTS[i]).sum();
    if chars[17].to_ascii_uppercase() != CHECK[(sum % 11) as usize] {
        return Err(ResidentIdProblem::CheckDigit);
    }
    Ok(())
}

/// The sex a resident ID number records (17th digit: odd male, even female).
pub fn resident_id_sex(id: &str) -> Option<&'static str> {
    let digit = id.trim().chars().nth(16)?.to_digit(10)?;
    Some(if digit % 2 == 1 { "男" } else { "女" })
}

/// A name masked for storage: its first character, then one `*` per other character
/// (张三 → 张*, 欧阳娜娜 → 欧***).
pub fn masked_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Row rule: the timestamp column `later` must not be before `earlier`; each is given
/// as (key, Chinese header). Rows where either is empty are skipped. Reports an error
/// on `later`.
pub fn not_before(
    rows: &crate::Rows,
    later: (&str, &str),
    earlier: (&str, &str),
    rule: &str,
    out: &mut crate::Diagnostics,
) -> Result<(), crate::PluginError> {
    let (l, e) = (rows.timestamp(later.0)?, rows.timestamp(earlier.0)?);
    for row in 0..rows.len() {
        if let (Some(a), Some(b)) = (l.get(row), e.get(row))
            && a < b
        {
            let when = crate::rows::timestamp_text(b);
            out.error(
                row,
                later.0,
                crate::rows::timestamp_text(a),
                rule,
                format!("{}早于{}（{when}）", later.1, earlier.1),
                format!("{} is before {} ({when})", later.0, earlier.0),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids_are_checked_to_the_check_digit() {
        assert_eq!(resident_id("11010519491231002X"), Ok(()));
        assert_eq!(resident_id("11010519491231002x"), Ok(()));
        assert_eq!(
            resident_id("440103199003072811"),
            Err(ResidentIdProblem::CheckDigit)
        );
        assert_eq!(
            resident_id("44010319900307281"),
            Err(ResidentIdProblem::Format)
        );
        assert_eq!(
            resident_id("440103199002302810"),
            Err(ResidentIdProblem::BirthDate)
        );
        assert_eq!(resident_id_sex("11010519491231002X"), Some("女"));
    }

    #[test]
    fn names_are_masked() {
        assert_eq!(masked_name("张三"), "张*");
        assert_eq!(masked_name("欧阳娜娜"), "欧***");
        assert_eq!(masked_name(""), "");
    }
}
