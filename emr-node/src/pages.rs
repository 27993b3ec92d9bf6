//! The node's pages for people (a pharmacist, a compliance officer): the
//! chain's state, the latest blocks, one block, one record (verified), and
//! a patient's or doctor's history by address. Server-rendered HTML with
//! no script and no file from outside the node (hospital networks are
//! closed), readable on a phone, labelled for screen readers. Every value
//! shown is escaped: a prescription is data, never markup. Sealed
//! prescriptions show as sealed, never their envelope.

use std::fmt::Write as _;

use emr_core::address::{self, Role};
use emr_core::chain::{Chain, ChainError, RecordEntry};
use emr_core::{Block, Record};

use crate::node::Shared;

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted
/// attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dd{margin:0}body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;line-height:1.5;color:#111}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc;vertical-align:top}\
code,.mono{font-family:ui-monospace,monospace;word-break:break-all}nav a{margin-right:1rem}\
.sealed{font-style:italic;color:#555}.error{color:#a00}.caret{color:#a00;white-space:pre}\
form{margin:.5rem 0}input{font-size:1rem;padding:.3rem;width:100%;max-width:32rem;box-sizing:border-box}\
@media (max-width:40rem){th,td{display:block;border:0}tr{display:block;border-bottom:1px solid #ccc;padding:.3rem 0}}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} - cryptoemr node</title><style>{STYLE}</style></head><body>\
         <header><nav aria-label=\"main\"><a href=\"/\">Chain</a><a href=\"/patient\">Patient</a><a href=\"/doctor\">Doctor</a></nav></header>\
         <main><h1>{}</h1>{body}</main></body></html>",
        escape(title),
        escape(title)
    )
}

fn time(t: u64) -> String {
    emr_core::fhir::date_time(t).unwrap_or_else(|| format!("Unix time {t}"))
}

fn prescription_cell(record: &Record) -> String {
    if record.is_sealed() {
        "<span class=\"sealed\">sealed: readable only by its recipients</span>".to_owned()
    } else {
        escape(&record.prescription)
    }
}

fn records_table(caption: &str, entries: &[RecordEntry]) -> String {
    let mut out = format!(
        "<table><caption>{}</caption><thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Prescription</th>\
         <th scope=\"col\">Doctor</th><th scope=\"col\">Patient</th><th scope=\"col\">Nonce</th><th scope=\"col\">Record</th></tr></thead><tbody>",
        escape(caption)
    );
    for e in entries {
        let r = &e.record;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td><a class=\"mono\" href=\"/record/{}\">{}</a></td></tr>",
            time(e.timestamp),
            prescription_cell(r),
            escape(&address::encode(Role::Doctor, &r.dr_hash)),
            escape(&address::encode(Role::Patient, &r.patient_hash)),
            r.nonce,
            r.txid,
            &r.txid.to_string()[..16]
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// An answer: status and HTML.
pub(crate) struct Html {
    /// 200, 400 or 404.
    pub status: u16,
    /// The page.
    pub body: String,
}

fn ok(title: &str, body: &str) -> Html {
    Html { status: 200, body: page(title, body) }
}

fn not_found(what: &str) -> Html {
    Html { status: 404, body: page("Not found", &format!("<p class=\"error\" role=\"alert\">{}</p>", escape(what))) }
}

fn overview(shared: &Shared) -> Result<Html, ChainError> {
    let status = shared.status()?;
    let blocks: Vec<Block> = shared.read(|c| {
        let len = c.len()?;
        c.blocks(len.saturating_sub(20), len).collect()
    })?;
    // The latest blocks end at the tip.
    let last_time = blocks.last().map(|b| b.timestamp);
    let text = |key: &str| match &status[key] {
        serde_json::Value::String(s) => escape(s),
        serde_json::Value::Null => "none".to_owned(),
        other => escape(&other.to_string()),
    };
    let mut body = format!(
        "<section aria-labelledby=\"state\"><h2 id=\"state\">State</h2><dl>\
         <dt>Height</dt><dd id=\"height\">{}</dd><dt>Tip</dt><dd class=\"mono\" id=\"tip\">{}</dd>\
         <dt>Last block</dt><dd id=\"last-block\">{}</dd><dt>Pending</dt><dd id=\"pending\">{} records, {} entries</dd>\
         <dt>Conflicts</dt><dd id=\"conflicts\">{}</dd></dl></section>",
        text("height"),
        text("tip"),
        last_time.map_or("none".to_owned(), time),
        text("pending"),
        text("pending_entries"),
        text("conflicts"),
    );
    body.push_str("<section aria-labelledby=\"peers\"><h2 id=\"peers\">Peers</h2><ul>");
    let peers = status["peers"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        body.push_str("<li>none configured</li>");
    }
    for p in peers {
        let _ = write!(
            body,
            "<li><span class=\"mono\">{}</span>: {}{}</li>",
            escape(p["url"].as_str().unwrap_or("")),
            escape(p["state"].as_str().unwrap_or("")),
            p["reason"].as_str().map(|r| format!(" ({})", escape(r))).unwrap_or_default()
        );
    }
    body.push_str("</ul></section><section aria-labelledby=\"latest\"><h2 id=\"latest\">Latest blocks</h2>");
    body.push_str("<table><thead><tr><th scope=\"col\">Height</th><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Records</th><th scope=\"col\">Block</th></tr></thead><tbody>");
    for b in blocks.iter().rev() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a class=\"mono\" href=\"/block/{}\">{}</a></td></tr>",
            b.height,
            time(b.timestamp),
            b.records.len(),
            b.block_id,
            &b.block_id.to_string()[..16]
        );
    }
    body.push_str("</tbody></table></section>");
    body.push_str(&search_form("/patient", "Patient address", "emrp1…", ""));
    body.push_str(&search_form("/doctor", "Doctor address", "emrd1…", ""));
    Ok(ok("Chain", &body))
}

fn search_form(action: &str, label: &str, placeholder: &str, value: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\" role=\"search\"><label for=\"address{action_id}\">{}</label><br>\
         <input id=\"address{action_id}\" name=\"address\" value=\"{}\" placeholder=\"{}\" autocomplete=\"off\" spellcheck=\"false\">\
         <button type=\"submit\">Show</button></form>",
        escape(label),
        escape(value),
        escape(placeholder),
        action_id = action.replace('/', "-"),
    )
}

fn block_page(chain: &Chain, which: &str) -> Result<Html, ChainError> {
    let block = match which.parse::<u64>() {
        Ok(height) => chain.block_at(height)?,
        Err(_) => match crate::api::parse_hash(which) {
            Some(id) => match chain.active_height(&id)? {
                Some(height) => chain.block_at(height)?,
                None => None,
            },
            None => None,
        },
    };
    let Some(block) = block else { return Ok(not_found(&format!("no block {which} in the active chain"))) };
    let entries: Vec<RecordEntry> = block
        .records
        .iter()
        .map(|r| RecordEntry { height: block.height, block_id: block.block_id, timestamp: block.timestamp, record: r.clone() })
        .collect();
    let body = format!(
        "<dl><dt>Height</dt><dd>{}</dd><dt>Block</dt><dd class=\"mono\">{}</dd><dt>Previous</dt><dd class=\"mono\">{}</dd>\
         <dt>Time (UTC)</dt><dd>{}</dd><dt>Difficulty</dt><dd>{}</dd><dt>Miner</dt><dd class=\"mono\">{}</dd></dl>{}",
        block.height,
        block.block_id,
        block.previous,
        time(block.timestamp),
        block.difficulty,
        escape(&address::encode(Role::Miner, &block.miner)),
        records_table("Records in this block", &entries)
    );
    Ok(ok(&format!("Block {}", block.height), &body))
}

fn record_page(chain: &Chain, txid: &str) -> Result<Html, ChainError> {
    let Some(txid) = crate::api::parse_hash(txid) else { return Ok(not_found("a record is named by its txid, 64 hex digits")) };
    let Some(e) = chain.find_record(&txid)? else { return Ok(not_found(&format!("no record {txid} in the active chain"))) };
    let r = &e.record;
    let verified = match r.verify(r.nonce.saturating_sub(1)) {
        Ok(()) => "<strong id=\"verified\">verified</strong>: signed by this doctor, unaltered".to_owned(),
        Err(err) => format!("<strong id=\"verified\" class=\"error\">does not verify</strong>: {}", escape(&err.to_string())),
    };
    let body = format!(
        "<p>{verified}</p><dl><dt>Prescription</dt><dd id=\"prescription\">{}</dd>\
         <dt>Doctor</dt><dd class=\"mono\"><a href=\"/doctor?address={doctor}\">{doctor}</a></dd>\
         <dt>Patient</dt><dd class=\"mono\"><a href=\"/patient?address={patient}\">{patient}</a></dd>\
         <dt>Nonce</dt><dd>{}</dd><dt>Block</dt><dd><a href=\"/block/{}\">height {}</a></dd><dt>Time (UTC)</dt><dd>{}</dd>\
         <dt>Txid</dt><dd class=\"mono\">{}</dd></dl>",
        prescription_cell(r),
        r.nonce,
        e.block_id,
        e.height,
        time(e.timestamp),
        r.txid,
        doctor = escape(&address::encode(Role::Doctor, &r.dr_hash)),
        patient = escape(&address::encode(Role::Patient, &r.patient_hash)),
    );
    Ok(ok("Record", &body))
}

fn history_page(chain: &Chain, role: Role, query: &str) -> Result<Html, ChainError> {
    let (title, action, placeholder) = match role {
        Role::Doctor => ("Doctor", "/doctor", "emrd1…"),
        _ => ("Patient", "/patient", "emrp1…"),
    };
    let typed = query_value(query, "address").unwrap_or_default();
    let mut body = search_form(action, &format!("{title} address"), placeholder, &typed);
    if typed.is_empty() {
        return Ok(ok(title, &body));
    }
    match address::decode(typed.trim(), role) {
        Err(e) => {
            let positions = e.positions();
            let marks: String = (0..typed.chars().count()).map(|i| if positions.contains(&i) { '^' } else { ' ' }).collect();
            let _ = write!(
                body,
                "<div role=\"alert\"><p class=\"error\" id=\"address-error\">{}</p><pre class=\"mono\">{}\n<span class=\"caret\">{}</span></pre></div>",
                escape(&e.to_string()),
                escape(&typed),
                marks.trim_end()
            );
            Ok(Html { status: 400, body: page(title, &body) })
        }
        Ok(hash) => {
            let entries = match role {
                Role::Doctor => chain.doctor_records(&hash)?,
                _ => chain.patient_history(&hash)?,
            };
            body.push_str(&records_table(&format!("{} records", entries.len()), &entries));
            Ok(ok(&format!("{title} {}", address::encode(role, &hash)), &body))
        }
    }
}

/// One `key=value` of a query string, percent-decoded (`+` as a space).
fn query_value(query: &str, key: &str) -> Option<String> {
    let raw = query.split('&').find_map(|p| p.strip_prefix(key)?.strip_prefix('='))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let pair = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match pair {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The page at `path` (with `query`), or `None` for a path that is not a page.
pub(crate) fn render(shared: &Shared, path: &str, query: &str) -> Option<Result<Html, ChainError>> {
    Some(match path {
        "/" => overview(shared),
        "/patient" => shared.read(|c| history_page(c, Role::Patient, query)),
        "/doctor" => shared.read(|c| history_page(c, Role::Doctor, query)),
        p if p.starts_with("/block/") => shared.read(|c| block_page(c, &p["/block/".len()..])),
        p if p.starts_with("/record/") => shared.read(|c| record_page(c, &p["/record/".len()..])),
        _ => return None,
    })
}
