//! Starting the workers of a cluster: the processes connect to each other here, within the
//! connect timeout and with messages on standard error, and the connected sockets are handed
//! to timely. (Timely's own connection code prints its progress on standard output, which
//! would mix with a process's results, and retries for ever.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::{Hooks, WorkerGuards};
use timely::worker::Worker;

use super::ClusterOptions;

/// Starts the workers of `cluster`, each running `func`: in this process alone, or, with
/// several processes, once this process is connected to every other (each connects to those
/// before it and accepts those after it, within the connect timeout).
pub fn execute<T, F>(cluster: &ClusterOptions, func: F) -> Result<WorkerGuards<T>, String>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    let config = cluster.timely_config()?;
    if cluster.processes <= 1 {
        return timely::execute(config, func);
    }
    let addresses = cluster.addresses()?;
    let sockets = connect(&addresses, cluster.process, cluster.connect_timeout)
        .map_err(|e| format!("{e}; {}", super::unreachable_peers(cluster)))?;
    let hooks = Hooks::default();
    let process = ProcessBuilder::new_typed_vector(cluster.workers, hooks.refill.clone(), None);
    let (builders, guard) = initialize_networking_from_sockets(
        process,
        sockets,
        cluster.process,
        cluster.workers,
        hooks,
    )
    .map_err(|e| format!("starting the network: {e}"))?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    timely::execute::execute_from(builders, Box::new(guard), config.worker, func)
}

/// Connects process `me` of the cluster at `addresses` to the others: a socket per process
/// (`None` for `me`), each peer identified by the index it sends first, as timely expects.
fn connect(
    addresses: &[String],
    me: usize,
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>, String> {
    let deadline = Instant::now() + timeout;
    let mut sockets: Vec<Option<TcpStream>> = (0..addresses.len()).map(|_| None).collect();
    let listener = TcpListener::bind(addresses[me].as_str())
        .map_err(|e| format!("cannot listen on {}: {e}", addresses[me]))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {}: {e}", addresses[me]))?;
    // Connect to the processes before this one, retrying until they listen.
    for (index, address) in addresses.iter().enumerate().take(me) {
        let mut told = false;
        loop {
            let attempt = address
                .to_socket_addrs()
                .map_err(|e| e.to_string())
                .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
                .and_then(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_secs(1))
                        .map_err(|e| e.to_string())
                });
            match attempt {
                Ok(mut stream) => {
                    stream
                        .write_all(&(me as u64).to_be_bytes())
                        .map_err(|e| format!("connecting to process {index}: {e}"))?;
                    let _ = stream.set_nodelay(true);
                    sockets[index] = Some(stream);
                    break;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("process {index} at {address}: {e}"));
                }
                Err(e) => {
                    if !told {
                        eprintln!("waiting for process {index} at {address} ({e})");
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    // Accept the processes after this one.
    let mut waiting = addresses.len() - me - 1;
    let mut told = false;
    while waiting > 0 {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut id = [0u8; 8];
                stream
                    .read_exact(&mut id)
                    .map_err(|e| format!("a peer connected but did not say who it is: {e}"))?;
                let _ = stream.set_read_timeout(None);
                let id = u64::from_be_bytes(id) as usize;
                if id <= me || id >= addresses.len() || sockets[id].is_some() {
                    return Err(format!(
                        "a peer connected as process {id}, which is not one this process waits for"
                    ));
                }
                let _ = stream.set_nodelay(true);
                sockets[id] = Some(stream);
                waiting -= 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = (me + 1..addresses.len())
                        .filter(|i| sockets[*i].is_none())
                        .map(|i| i.to_string())
                        .collect();
                    return Err(format!(
                        "process(es) {} did not connect",
                        missing.join(", ")
                    ));
                }
                if !told {
                    eprintln!(
                        "waiting for {waiting} process(es) to connect to {}",
                        addresses[me]
                    );
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("accepting a peer on {}: {e}", addresses[me])),
        }
    }
    Ok(sockets)
}
