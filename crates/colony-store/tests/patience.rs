//! A patient store waits out a PostgreSQL server it cannot reach, says so,
//! and gives up only when told to stop; the store as opened does not wait.

use std::sync::Arc;
use std::time::Duration;

use colony_core::{Plan, PlanName, TaskId, TaskSpec};
use colony_store::{AddOptions, Outage, Patience, SqlStore, Store, SystemClock};
use colony_testkit::{PgServer, Proxy};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longer than any wait the test expects, so a hang fails instead of
/// blocking the suite.
const LIMIT: Duration = Duration::from_secs(60);

fn plan(name: &str) -> Plan {
    let task = TaskSpec::new(TaskId::new(format!("{name}-t")).unwrap(), "T", "Do it.");
    Plan { name: PlanName::new(name).unwrap(), base: None, defaults: Default::default(), tasks: vec![task] }
}

/// What a patient store said, in a form tests compare.
#[derive(Debug, PartialEq)]
enum Said {
    Waiting { connection: bool, retry_in: Duration },
    Over { disk_full: bool },
}

/// A store on a fresh database reached through a proxy, and a patient
/// handle on it whose notices arrive on the receiver.
async fn through_proxy(stop: &CancellationToken) -> (Proxy, SqlStore, SqlStore, mpsc::UnboundedReceiver<Said>) {
    let server = PgServer::shared();
    let proxy = Proxy::start(server.port());
    let store =
        SqlStore::open_postgres(&proxy.url(&server.fresh_db(), server.port()), Arc::new(SystemClock)).await.unwrap();
    let (send, said) = mpsc::unbounded_channel();
    let patient = store.patient(Patience::new(
        move |outage| {
            let _ = send.send(match outage {
                Outage::Waiting { error, retry_in } => Said::Waiting { connection: error.is_connection(), retry_in },
                Outage::Over { disk_full } => Said::Over { disk_full },
            });
        },
        stop.clone(),
    ));
    (proxy, store, patient, said)
}

async fn next(said: &mut mpsc::UnboundedReceiver<Said>) -> Said {
    tokio::time::timeout(LIMIT, said.recv()).await.expect("a notice in time").expect("the store still lives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_store_waits_out_an_outage_and_says_when_it_is_over() {
    let stop = CancellationToken::new();
    let (proxy, store, patient, mut said) = through_proxy(&stop).await;
    proxy.cut();

    let err = store.counts().await.expect_err("the store as opened does not wait");
    assert!(err.is_connection(), "{err:?}");

    let write = tokio::spawn(async move { patient.add_plan(&plan("p"), "p.yaml", AddOptions::default()).await });
    assert_eq!(next(&mut said).await, Said::Waiting { connection: true, retry_in: Duration::from_millis(250) });
    assert!(!write.is_finished(), "the write waits while the server is away");

    proxy.restore();
    let report = tokio::time::timeout(LIMIT, write).await.expect("the write goes through").unwrap().unwrap();
    assert_eq!(report.added.len(), 1);
    // Notices of later tries may come first: the last one says it is over.
    let mut last = next(&mut said).await;
    while let Said::Waiting { connection: true, .. } = last {
        last = next(&mut said).await;
    }
    assert_eq!(last, Said::Over { disk_full: false });
    assert_eq!(store.counts().await.unwrap().total, 1, "the write landed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_store_gives_up_when_stopped() {
    let stop = CancellationToken::new();
    let (proxy, _store, patient, mut said) = through_proxy(&stop).await;
    proxy.cut();

    let read = tokio::spawn(async move { patient.counts().await });
    assert!(matches!(next(&mut said).await, Said::Waiting { connection: true, .. }));
    stop.cancel();
    let err = tokio::time::timeout(LIMIT, read).await.expect("the read gives up").unwrap().unwrap_err();
    assert!(err.is_connection(), "{err:?}");
}
