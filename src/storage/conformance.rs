//! One suite that every [`Disk`] must pass, run against both implementations.

use super::{read_if_exists, Disk, RealDisk, SimDisk};
use std::io::ErrorKind;

fn check(disk: &dyn Disk) {
    assert_eq!(disk.read("a").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(read_if_exists(disk, "a").unwrap(), None);

    disk.append("a", b"hello ").unwrap();
    disk.append("a", b"world").unwrap();
    assert_eq!(disk.read("a").unwrap(), b"hello world");

    disk.truncate("a", 5).unwrap();
    disk.sync("a").unwrap();
    assert_eq!(disk.read("a").unwrap(), b"hello");

    disk.write("b.tmp", b"snapshot").unwrap();
    disk.sync("b.tmp").unwrap();
    disk.rename("b.tmp", "b").unwrap();
    assert_eq!(disk.list().unwrap(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(disk.read("b").unwrap(), b"snapshot");

    disk.remove("a").unwrap();
    disk.remove("a").unwrap();
    assert_eq!(disk.list().unwrap(), vec!["b".to_string()]);
}

#[test]
fn sim_disk_meets_the_disk_contract() {
    check(&SimDisk::new());
}

#[test]
fn real_disk_meets_the_disk_contract() {
    let dir = std::env::temp_dir().join(format!("etcd-sim-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    check(&RealDisk::open(&dir).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
