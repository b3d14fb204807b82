//! Sender identification over the bundled samples, through the summary
//! itself: every source the summary reports for the samples' domains is
//! identified from the evidence the summary gathered, and the services the
//! samples were generated from must be recognised at the right addresses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use dmarc_report::analyse::senders::Catalogue;
use dmarc_report::analyse::summary::{self, WindowSpec};
use dmarc_report::ingest::Ingester;
use dmarc_report::limits::Limits;
use dmarc_report::store::Store;

#[test]
fn the_services_behind_the_samples_are_recognised_at_their_addresses() {
    let store = Store::open_in_memory().unwrap();
    let mut ingester = Ingester::new(&store, Limits::default());
    ingester.ingest_paths(&["sample-reports".to_owned()]).unwrap();
    ingester.finish().unwrap();
    let conn = &store;
    let catalogue = Catalogue::builtin();
    // sender name → the source addresses the summary put under it
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let domains = summary::domains(conn).unwrap();
    assert!(!domains.is_empty(), "the samples hold no domain");
    for domain in &domains {
        let window = summary::window(conn, domain, WindowSpec::All).unwrap().unwrap();
        let totals = summary::domain_totals(conn, domain, window, &catalogue).unwrap();
        for source in totals.sources {
            by_name.entry(source.sender).or_default().push(source.ip);
        }
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
