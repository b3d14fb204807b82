//! Sender identification over the bundled samples: every source's evidence
//! is gathered from the database as the summary will, and the services the
//! samples were generated from must be recognised at the right addresses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use dmarc_report::analyse::senders::{Catalogue, Evidence};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;

/// source IP → (passing DKIM domains, passing SPF domains, envelope-from domains)
fn evidence(store: &Store) -> BTreeMap<String, [Vec<String>; 3]> {
    let mut out: BTreeMap<String, [Vec<String>; 3]> = BTreeMap::new();
    let queries = [
        "SELECT DISTINCT r.source_ip, d.domain FROM records r JOIN dkim_results d ON d.record = r.id
         WHERE d.result = 'pass'",
        "SELECT DISTINCT r.source_ip, s.domain FROM records r JOIN spf_results s ON s.record = r.id
         WHERE s.result = 'pass'",
        "SELECT DISTINCT source_ip, envelope_from FROM records WHERE envelope_from IS NOT NULL",
    ];
    for (i, sql) in queries.iter().enumerate() {
        let mut stmt = store.connection().prepare(sql).unwrap();
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap();
        for row in rows {
            let (ip, domain) = row.unwrap();
            out.entry(ip).or_default()[i].push(domain);
        }
    }
    out
}

#[test]
fn the_services_behind_the_samples_are_recognised_at_their_addresses() {
    let store = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    ingester.finish().unwrap();
    let catalogue = Catalogue::builtin();
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ip, [dkim, spf, env]) in evidence(&store) {
        let id = catalogue.identify(&Evidence {
            dkim_pass: &dkim,
            spf_pass: &spf,
            envelope_from: &env,
            reverse_dns: None,
            ip: Some(&ip),
        });
        by_name.entry(id.name).or_default().push(ip);
    }
    assert!(by_name.len() > 3, "{by_name:#?}");
    let sendgrid = &by_name["SendGrid"];
    assert!(
        sendgrid.iter().all(|ip| ip.starts_with("167.89.") || ip.starts_with("149.72.")),
        "{sendgrid:?}"
    );
    let zendesk = &by_name["Zendesk"];
    assert!(zendesk.iter().all(|ip| ip.starts_with("192.161.144.")), "{zendesk:?}");
    // SES signs as the customer and as amazonses.com: the catalogue match on
    // the second signature names it.
    let ses = &by_name["Amazon SES"];
    assert!(ses.iter().all(|ip| ip.starts_with("54.240.")), "{ses:?}");
}
