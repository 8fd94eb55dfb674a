//! Output of `trailpipe lookup`: a table for people, or AWS's JSON for scripts.

use crate::LookupResponse;

/// `--output` of `trailpipe lookup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns, one event per line, newest first.
    #[default]
    Table,
    /// The LookupEvents response body, pretty-printed.
    Json,
}

const HEADERS: [&str; 6] = [
    "EventTime",
    "EventName",
    "Username",
    "EventSource",
    "Resources",
    "EventId",
];

/// Renders a response in the chosen format (ends with a newline).
pub fn render(resp: &LookupResponse, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(resp).expect("responses serialise");
            s.push('\n');
            s
        }
        OutputFormat::Table => render_table(resp),
    }
}

/// Renders a table: time (UTC, RFC 3339), name, user, source, resources (`type name`, comma
/// separated), event id; `-` for absent values; a `NextToken:` line when more pages exist.
pub fn render_table(resp: &LookupResponse) -> String {
    let rows: Vec<[String; 6]> = resp
        .events
        .iter()
        .map(|e| {
            let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            let resources = e
                .resources
                .iter()
                .map(|r| {
                    let parts: Vec<&str> = [&r.resource_type, &r.resource_name]
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect();
                    parts.join(" ")
                })
                .collect::<Vec<_>>()
                .join(", ");
            [
                format_time(e.event_time),
                or_dash(&e.event_name),
                or_dash(&e.username),
                or_dash(&e.event_source),
                if resources.is_empty() {
                    "-".to_owned()
                } else {
                    resources
                },
                e.event_id.clone(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let last = cells.len() - 1;
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            out.push_str(cell);
            if i < last {
                out.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    line(&HEADERS.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    if rows.is_empty() {
        out.push_str("(no events)\n");
    }
    if let Some(t) = &resp.next_token {
        out.push_str("NextToken: ");
        out.push_str(t);
        out.push('\n');
    }
    out
}

fn format_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LookupEvent, LookupEventResource};

    #[test]
    fn table_aligns_columns_and_shows_the_token() {
        let resp = LookupResponse {
            events: vec![LookupEvent {
                event_id: "id-1".into(),
                event_name: Some("ConsoleLogin".into()),
                read_only: Some("false".into()),
                access_key_id: None,
                event_time: 1_767_225_600,
                event_source: Some("signin.amazonaws.com".into()),
                username: Some("alice".into()),
                resources: vec![LookupEventResource {
                    resource_type: Some("AWS::S3::Bucket".into()),
                    resource_name: Some("arn:aws:s3:::b".into()),
                }],
                cloud_trail_event: "{}".into(),
            }],
            next_token: Some("tok".into()),
        };
        let t = render_table(&resp);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(
            lines[1].starts_with("2026-01-01T00:00:00Z  ConsoleLogin  alice"),
            "{t}"
        );
        assert_eq!(lines[0].find("EventName"), lines[1].find("ConsoleLogin"));
        assert!(lines[1].contains("AWS::S3::Bucket arn:aws:s3:::b"));
        assert_eq!(lines[2], "NextToken: tok");
        let j: serde_json::Value =
            serde_json::from_str(&render(&resp, OutputFormat::Json)).expect("json");
        assert_eq!(j["Events"][0]["ReadOnly"], "false");
    }
}
