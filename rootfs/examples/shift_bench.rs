//! Times `mapped_copy::mapped_layers` on layer directories:
//! `shift_bench MAPPED_ROOT LAYER...` with a rootless-shaped keep-id map
//! (0→1 ×1002, 1002→0, 1003→1003 ×64534). Not a test: a measuring aid.

use std::path::PathBuf;
use std::time::Instant;

use podman_rs_namespaces::{keep_id_layout, IdMap};
use podman_rs_rootfs::mapped_copy::{mapped_layers, OwnerShift};

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((root, layers)) = args.split_first() else {
        eprintln!("usage: shift_bench MAPPED_ROOT LAYER...");
        std::process::exit(2);
    };
    let map: Vec<IdMap> = keep_id_layout(1002, 65536);
    let shift = OwnerShift {
        uid: map.clone(),
        gid: map,
    };
    let start = Instant::now();
    match mapped_layers(layers, &shift, root) {
        Ok(out) => println!(
            "created={} {:?} in {:.1} ms",
            out.created,
            out.stats,
            start.elapsed().as_secs_f64() * 1000.0
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
