//! Sender identification over the bundled samples: every source's evidence
//! is gathered from the database as the summary will, and the services the
//! samples were generated from must be recognised at the right addresses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use dmarc_report::analyse::senders::{Catalogue, Evidence};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;

/// source IP → (passing DKIM domains, passing SPF domains, envelope-from
/// domains), each distinct, from the store's snapshot.
fn evidence(store: &Store) -> BTreeMap<String, [Vec<String>; 3]> {
    let mut out: BTreeMap<String, [Vec<String>; 3]> = BTreeMap::new();
    let image = store.inspect().snapshot().unwrap();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    for record in image["reports"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["records"].as_array().unwrap().iter())
    {
        let ip = text(&record["source_ip"]).unwrap_or_default();
        let slot = out.entry(ip).or_default();
        for (i, key) in ["auth_dkim", "auth_spf"].iter().enumerate() {
            for auth in record[*key].as_array().unwrap() {
                if auth["result"] == "pass"
                    && let Some(domain) = text(&auth["domain"])
                    && !slot[i].contains(&domain)
                {
                    slot[i].push(domain);
                }
            }
        }
        if let Some(env) = text(&record["envelope_from"])
            && !slot[2].contains(&env)
        {
            slot[2].push(env);
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
