//! The staff directory's CSV (exported from the ministry's address book): a header row naming
//! the columns, in English or Japanese, then one person per row. Problems name file and line.

use crate::diagnostic::{Problem, Problems};
use crate::domain::DirectoryEntry;

const COLUMNS: [(&str, &[&str]); 4] = [
    ("name", &["name", "氏名", "名前"]),
    ("department", &["department", "部署", "所属", "organisation", "organization"]),
    ("phone", &["phone", "電話", "電話番号", "内線"]),
    ("email", &["email", "e-mail", "mail", "メール", "メールアドレス"]),
];

pub fn parse_csv(file: &str, data: &[u8]) -> Result<Vec<DirectoryEntry>, Problems> {
    let problem = |line: Option<usize>, message: String| Problem::new(file, line, message);
    // Excel in Japan saves CSV as Shift_JIS: text is read as UTF-8, else Shift_JIS, else EUC-JP.
    let text = crate::mail::charset::decode(data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data), None, None).text;
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| Problems(vec![problem(Some(1), e.to_string())]))?.clone();
    let mut index = [None; 4];
    for (i, (_, names)) in COLUMNS.iter().enumerate() {
        index[i] = headers.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
    }
    let mut problems = Vec::new();
    for (i, (column, _)) in COLUMNS.iter().enumerate().take(2) {
        if index[i].is_none() {
            problems.push(problem(Some(1), format!("no '{column}' column in the header row")));
        }
    }
    if index[2].is_none() && index[3].is_none() {
        problems.push(problem(Some(1), "needs a 'phone' or an 'email' column".into()));
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let mut entries = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(Some(line), e.to_string()));
                continue;
            }
        };
        let field = |i: usize| index[i].and_then(|c| record.get(c)).map(str::to_owned).filter(|v| !v.is_empty());
        let (Some(name), Some(department)) = (field(0), field(1)) else {
            problems.push(problem(Some(line), "name and department must not be empty".into()));
            continue;
        };
        entries.push(DirectoryEntry { name, department, phone: field(2), email: field(3) });
    }
    if problems.is_empty() { Ok(entries) } else { Err(Problems(problems)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_headers_and_problems_with_lines() {
        let csv = "\u{feff}氏名,部署,電話番号,メールアドレス\n山田 太郎,労災保険業務課,03-1111-2222,yamada@mhlw.go.jp\n佐藤,,03-0000-0000,\n";
        let err = parse_csv("staff.csv", csv.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "staff.csv:3: name and department must not be empty");
        let ok = parse_csv("staff.csv", "name,department,email\nA,B,a@x.jp\n".as_bytes()).unwrap();
        assert_eq!(
            ok,
            [DirectoryEntry { name: "A".into(), department: "B".into(), phone: None, email: Some("a@x.jp".into()) }]
        );
        assert!(parse_csv("s.csv", b"foo,bar\n").unwrap_err().to_string().starts_with("s.csv:1: no 'name' column"));
        // What Excel writes in Japan: Shift_JIS, CRLF.
        let excel =
            encoding_rs::SHIFT_JIS.encode("氏名,部署,電話番号\r\n髙橋 ①郎,総務課,03-1111-2222\r\n").0.into_owned();
        let read = parse_csv("excel.csv", &excel).unwrap();
        assert_eq!((read[0].name.as_str(), read[0].department.as_str()), ("髙橋 ①郎", "総務課"));
    }
}
