//! A small reader for the registry CSV files: comma-separated, a header row naming the columns,
//! fields optionally in double quotes (`""` is a quote inside one), UTF-8, blank lines ignored.
//! A quoted field may not span lines, so a record is always one line and errors can name it.

/// One data record and the line it came from (1-based, counting the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    fields: Vec<String>,
}

/// The file's header and records.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is empty: a header row is needed")]
    NoHeader,
    #[error("line {line}: a quoted field is not closed")]
    UnclosedQuote { line: usize },
    #[error("line {line}: text after a closing quote")]
    TextAfterQuote { line: usize },
    #[error("the header lacks the column {0:?}")]
    MissingColumn(String),
}

impl Table {
    pub fn parse(text: &str) -> Result<Table, CsvError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut header = None;
        let mut records = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let fields = split(raw, line)?;
            if header.is_none() {
                header = Some(fields.into_iter().map(|f| f.trim().to_owned()).collect());
            } else {
                records.push(Record { line, fields });
            }
        }
        Ok(Table {
            header: header.ok_or(CsvError::NoHeader)?,
            records,
        })
    }

    /// The position of a column, which the header must name.
    pub fn column(&self, name: &str) -> Result<usize, CsvError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CsvError::MissingColumn(name.to_owned()))
    }

    /// The position of a column the header may leave out.
    pub fn optional_column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    pub fn width(&self) -> usize {
        self.header.len()
    }
}

impl Record {
    /// The trimmed field at `index`; empty when the record is shorter.
    pub fn get(&self, index: usize) -> &str {
        self.fields.get(index).map(|f| f.trim()).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

fn split(raw: &str, line: usize) -> Result<Vec<String>, CsvError> {
    let mut fields = Vec::new();
    let mut chars = raw.chars().peekable();
    loop {
        let mut field = String::new();
        // Leading spaces before a quote are allowed: `a, "b"`.
        while chars.peek() == Some(&' ') {
            field.push(' ');
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            field.clear();
            loop {
                match chars.next() {
                    None => return Err(CsvError::UnclosedQuote { line }),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err(CsvError::TextAfterQuote { line }),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        let t = Table::parse("name,bin\n\"ТОО \"\"Ақ, бота\"\"\",050340001017\r\n\nx,y\n").unwrap();
        assert_eq!(t.column("bin"), Ok(1));
        assert_eq!(t.records.len(), 2);
        assert_eq!(t.records[0].get(0), "ТОО \"Ақ, бота\"");
        assert_eq!(t.records[0].line, 2);
        assert_eq!(t.records[1].line, 4);
        assert_eq!(t.records[1].get(5), "");
    }

    #[test]
    fn broken_quotes_name_their_line() {
        assert_eq!(
            Table::parse("a\n\"x").unwrap_err(),
            CsvError::UnclosedQuote { line: 2 }
        );
        assert_eq!(
            Table::parse("a\n\"x\"y").unwrap_err(),
            CsvError::TextAfterQuote { line: 2 }
        );
        assert_eq!(Table::parse("\n \n").unwrap_err(), CsvError::NoHeader);
        assert!(matches!(
            Table::parse("a\n").unwrap().column("b"),
            Err(CsvError::MissingColumn(_))
        ));
    }
}
